"""New patients who may be someone already known under another patient_id: flagged in the
preview, imported all the same."""

from bisect import bisect_left, bisect_right

from django.db.models.functions import Lower

from patients.importing.plans import PossibleDuplicate, in_chunks
from patients.models import Patient, patient_id_key


def possible_duplicates(workbook_patients, patient_rows):
    """New patients who may be someone already known under another patient_id, each flagged once.

    Another patient (in the workbook or the database) with her name and either her village, or her
    district and an age at first pregnancy within a year. Patients are indexed by name and village,
    and by name and district in order of age, so a workbook of 4,000 women of one name costs 4,000
    look-ups, not 16 million comparisons.
    """
    new = [p for p in workbook_patients.values() if p.pk is None and p.name]
    if not new:
        return []
    known = Patient.objects.annotate(lower_name=Lower("name")).select_related("district")
    others = [
        (patient, None)
        for patient in in_chunks(known, "lower_name", {p.name.lower() for p in new})
        if patient_id_key(patient.patient_id) not in workbook_patients
    ]
    others += [(patient, patient_rows[key]) for key, patient in workbook_patients.items() if patient.name]
    by_village, by_district = {}, {}
    for order, (patient, row) in enumerate(others):
        name = patient.name.lower()
        if patient.village:
            same = by_village.setdefault((name, patient.village.lower()), [])
            if len(same) < 2:  # she may be one of them; one other is all a flag names
                same.append((patient, row))
        if patient.age_at_first_pregnancy is not None:
            entry = (patient.age_at_first_pregnancy, order, patient, row)
            by_district.setdefault((name, patient.district.name.lower()), []).append(entry)
    for ages in by_district.values():
        ages.sort(key=lambda entry: entry[:2])
    flagged = []
    for patient in new:
        found = _other_in(by_village.get((patient.name.lower(), (patient.village or "").lower()), []), patient)
        reason = "same name and village"
        if found is None and patient.age_at_first_pregnancy is not None:
            ages = by_district.get((patient.name.lower(), patient.district.name.lower()), [])
            age = patient.age_at_first_pregnancy
            nearby = ages[bisect_left(ages, (age - 1,)) : bisect_right(ages, (age + 1, len(others)))]
            found = _other_in([(other, row) for _, _, other, row in nearby[:2]], patient)
            reason = "same name and district, age at first pregnancy within a year"
        if found is not None:
            other, other_row = found
            row = patient_rows[patient_id_key(patient.patient_id)]
            flagged.append(PossibleDuplicate(row, patient.patient_id, patient.name, other.patient_id, other_row,
                                             reason))  # fmt: skip
    return flagged


def _other_in(candidates, patient):
    return next(((other, row) for other, row in candidates if other.patient_id != patient.patient_id), None)
