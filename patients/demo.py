"""
Realistic synthetic records for demos, development and benchmarks.

The cohort resembles a Nepali district-hospital register: real district names, women married in
their late teens, 1-3 deliveries, a Caesarean share around 30% (higher in the cities), and
anaemia, by the most recent haemoglobin, in about 45% of women, as South-Asian cohorts report.
Generation is deterministic for a seed: every date is counted from a fixed day, not from today.

Rows are written with one multi-row INSERT per batch rather than through model instances, which
is what makes 100,000 patients take seconds. The values are built inside the plausible ranges of
`patients.clinical`, and the database's constraints still check every row.
"""

import datetime
import random
from dataclasses import dataclass, field

from django.db import connection, transaction

from patients import clinical
from patients.bulk import insert_rows
from patients.models import Delivery, District, FollowUp, Patient
from patients.writes import records_written

# Every generated date lies on or before this day, so a seed gives the same rows on any day.
LAST_DAY = datetime.date(2026, 6, 30)
FIRST_DAY = datetime.date(2018, 1, 1)

# District name, relative size, Caesarean share (urban hospitals do more).
DISTRICTS = [
    ("Kathmandu", 14, 0.42),
    ("Lalitpur", 7, 0.40),
    ("Bhaktapur", 5, 0.38),
    ("Kaski", 8, 0.36),
    ("Chitwan", 8, 0.33),
    ("Morang", 8, 0.30),
    ("Sunsari", 6, 0.30),
    ("Jhapa", 7, 0.28),
    ("Rupandehi", 7, 0.29),
    ("Banke", 5, 0.26),
    ("Kailali", 6, 0.22),
    ("Dang", 5, 0.21),
    ("Parsa", 5, 0.24),
    ("Dhanusha", 5, 0.20),
    ("Makwanpur", 4, 0.22),
    ("Surkhet", 3, 0.18),
    ("Syangja", 2, 0.20),
    ("Tanahun", 2, 0.21),
    ("Gorkha", 2, 0.15),
    ("Dolakha", 1, 0.12),
]
VILLAGES = [
    "Bhimsen",
    "Chandrapur",
    "Deurali",
    "Gaighat",
    "Hariwan",
    "Jitpur",
    "Khairahani",
    "Laxmipur",
    "Madhuban",
    "Naubise",
    "Pokhariya",
    "Rampur",
    "Sarlahi Tole",
    "Shantinagar",
    "Sitapur",
    "Sundarpur",
    "Tilottama",
    "Bhanu",
    "Belbari",
    "Gauradaha",
    "Pathari",
    "Shivapur",
    "Kalika",
    "Mahalaxmi",
]
FIRST_NAMES = [
    "Sita",
    "Gita",
    "Anita",
    "Sunita",
    "Sarita",
    "Kamala",
    "Laxmi",
    "Radha",
    "Parbati",
    "Mina",
    "Rita",
    "Sabina",
    "Puja",
    "Asmita",
    "Bimala",
    "Durga",
    "Ganga",
    "Januka",
    "Kabita",
    "Manisha",
    "Nirmala",
    "Pabitra",
    "Rachana",
    "Sushma",
    "Urmila",
    "Yamuna",
    "Srijana",
    "Bina",
    "Tara",
    "Muna",
]
SURNAMES = [
    "Shrestha",
    "Tamang",
    "Gurung",
    "Magar",
    "Rai",
    "Limbu",
    "Thapa",
    "Karki",
    "Adhikari",
    "Bhandari",
    "Poudel",
    "Sharma",
    "Yadav",
    "Chaudhary",
    "Tharu",
    "Khadka",
    "Basnet",
    "Maharjan",
    "Sherpa",
    "Pandey",
]
OCCUPATIONS = [
    ("Homemaker", 50),
    ("Agriculture", 25),
    ("Business", 7),
    ("Teacher", 5),
    ("Service", 6),
    ("Labourer", 5),
    ("Student", 2),
]
DIETS = [("Mixed", 70), ("Vegetarian", 28), ("Vegan", 2)]
CONDITIONS = [
    ("", 78),
    ("Anaemia", 5),
    ("anemic", 2),
    ("Hb low", 1),
    ("Gestational diabetes", 4),
    ("Pre-eclampsia", 3),
    ("Hypothyroidism", 4),
    ("Chronic hypertension", 3),
]
ANAEMIA_DIAGNOSES = ["Anaemia, started iron", "anemia", "Low Hb", "Mild anaemia", "Iron deficiency anaemia"]
OTHER_DIAGNOSES = [
    "Normal postnatal recovery",
    "Normal postnatal recovery",
    "Mastitis",
    "UTI",
    "Postpartum hypertension",
    "Wound check",
]
FOLLOWUP_COUNT_WEIGHTS = [8, 10, 10, 10, 10, 10, 10, 9, 8, 8, 7]  # 0 to 10 follow-ups
# Days from the latest delivery to the first follow-up: within 3, 4-14, 15-42, later.
FIRST_VISIT_DELAYS = [((0, 3), 35), ((4, 14), 30), ((15, 42), 20), ((43, 120), 15)]


@dataclass
class Batch:
    """Rows ready for the database, in the column order of the *_FIELDS lists below (dates as ISO text)."""

    patients: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)  # (patient row index, *values)
    followups: list = field(default_factory=list)  # (patient row index, *values)


PATIENT_FIELDS = [
    "patient_id",
    "name",
    "height_cm",
    "weight_kg",
    "education_level",
    "monthly_income",
    "age_at_menarche",
    "age_at_marriage",
    "age_at_first_pregnancy",
    "district_id",
    "village",
    "occupation",
    "diet",
    "condition",
]
DELIVERY_FIELDS = [
    "patient_id",
    "date_of_delivery",
    "age_at_delivery",
    "weight_at_delivery",
    "haemoglobin_at_delivery",
    "placental_weight",
    "term_of_delivery",
    "type_of_delivery",
]
FOLLOWUP_FIELDS = [
    "patient_id",
    "visit_number",
    "visit_date",
    "bp_systolic",
    "bp_diastolic",
    "weight_kg",
    "haemoglobin_g_dl",
    "diagnosis",
]


class CohortGenerator:
    """Draws patients one at a time from one random stream, so a seed fixes every value."""

    def __init__(self, seed, district_ids):
        self.rng = random.Random(seed)
        self.districts = [(district_ids[name], caesarean) for name, _, caesarean in DISTRICTS]
        self.district_weights = [size for _, size, _ in DISTRICTS]

    def pick(self, weighted):
        return self.rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    def bounded(self, mean, sd, low, high, digits=1):
        return round(min(high, max(low, self.rng.gauss(mean, sd))), digits)

    def patient(self, patient_id, batch):
        rng = self.rng
        index = len(batch.patients)
        district_id, caesarean_share = rng.choices(self.districts, self.district_weights)[0]
        menarche = int(self.bounded(13.5, 1.2, 10, 17, 0))
        marriage = max(menarche + 1, int(self.bounded(19, 3, 14, 34, 0)))
        first_pregnancy = marriage + int(abs(rng.gauss(1.2, 1.5)))
        height = self.bounded(151.5, 5.8, 132, 178)
        weight = self.bounded(52, 8, 36, 95)
        # Each woman has her own haemoglobin level; readings scatter around it.
        base_hb = rng.gauss(10.95, 1.35)
        condition = self.pick(CONDITIONS)
        batch.patients.append(
            (
                patient_id,
                f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
                height,
                weight,
                self.pick([(0, 20), (1, 25), (2, 30), (3, 17), (4, 8)]),
                round(rng.lognormvariate(10, 0.6) / 500) * 500,
                menarche,
                marriage,
                first_pregnancy,
                district_id,
                rng.choice(VILLAGES),
                self.pick(OCCUPATIONS),
                self.pick(DIETS),
                condition,
            )
        )
        last_delivery = self.deliveries(index, batch, first_pregnancy, weight, base_hb, caesarean_share)
        # A woman with a hypertensive disorder in her notes has higher readings (ISSHP: most stay above 140/90).
        pressure = (28, 18) if clinical.mentions_hypertension(condition) else (0, 0)
        self.followups(index, batch, last_delivery, weight, base_hb, pressure)

    def deliveries(self, index, batch, first_pregnancy, weight, base_hb, caesarean_share):
        rng = self.rng
        count = self.pick([(1, 55), (2, 30), (3, 15)])
        span_days = (LAST_DAY - FIRST_DAY).days - 150
        day = FIRST_DAY + datetime.timedelta(days=rng.randrange(span_days))
        # Half the women had children before the register's first year.
        age = first_pregnancy + (0 if rng.random() < 0.5 else rng.randint(1, 8))
        for number in range(count):
            if number:
                gap_days = rng.randint(540, 1500)
                if (LAST_DAY - day).days - gap_days < 150:
                    break
                day += datetime.timedelta(days=gap_days)
                age += gap_days // 365
            age = min(age, int(clinical.AGE_YEARS.high))
            kind = "c_section" if rng.random() < caesarean_share else ("assisted" if rng.random() < 0.1 else "normal")
            blood_loss = 0.6 if kind == "c_section" else 0.3
            batch.deliveries.append(
                (
                    index,
                    day.isoformat(),
                    age,
                    self.bounded(weight + 9, 3, 40, 120),
                    self.bounded(base_hb - blood_loss, 0.8, 5.5, 16.5),
                    self.bounded(510, 90, 250, 950, 0),
                    self.pick([("term", 85), ("preterm", 11), ("post_term", 4)]),
                    kind,
                )
            )
        return day

    def followups(self, index, batch, last_delivery, weight, base_hb, pressure=(0, 0)):
        rng = self.rng
        (low, high) = self.pick(FIRST_VISIT_DELAYS)
        day = last_delivery + datetime.timedelta(days=rng.randint(low, high))
        # Postpartum weight falls from the delivery weight back towards her usual weight.
        visit_weight = weight + rng.uniform(4, 8)
        # Iron supplements lift haemoglobin a little with each visit.
        hb = base_hb - 0.4
        for visit in range(1, self.pick(list(enumerate(FOLLOWUP_COUNT_WEIGHTS))) + 1):
            if day > LAST_DAY:
                break
            hb = hb + rng.uniform(0.0, 0.25)
            reading = self.bounded(hb + rng.gauss(0, 0.35), 0, 5.0, 16.8)
            visit_weight = max(weight - 1, visit_weight - rng.uniform(0, 1.5))
            systolic = int(self.bounded(112 + pressure[0], 12, 85, 185, 0))
            diagnosis = ""
            if reading < clinical.anaemia_cutoff_g_dl() and rng.random() < 0.3:
                diagnosis = rng.choice(ANAEMIA_DIAGNOSES)
            elif rng.random() < 0.15:
                diagnosis = rng.choice(OTHER_DIAGNOSES)
            batch.followups.append(
                (
                    index,
                    visit,
                    day.isoformat(),
                    systolic,
                    min(systolic - 15, int(self.bounded(73 + pressure[1], 9, 50, 115, 0))),
                    round(visit_weight + rng.gauss(0, 0.4), 1),
                    reading if rng.random() < 0.9 else None,
                    diagnosis,
                )
            )
            day += datetime.timedelta(days=rng.randint(7, 60))


def ensure_districts():
    """The demo's districts, created if missing; a dict of name to primary key."""
    return {name: District.objects.get_or_create_by_name(name).pk for name, _, _ in DISTRICTS}


def write_batch(batch):
    """Write one batch: its patients, then their deliveries and follow-ups keyed to the new rows.
    Announces nothing: call patients.writes.records_written() once the last batch is written."""
    insert_rows(Patient, PATIENT_FIELDS, batch.patients)
    patient_ids = [row[0] for row in batch.patients]
    pks = dict(Patient.objects.filter(patient_id__in=patient_ids).values_list("patient_id", "pk"))
    row_pk = [pks[patient_id] for patient_id in patient_ids]
    insert_rows(Delivery, DELIVERY_FIELDS, [(row_pk[row[0]], *row[1:]) for row in batch.deliveries])
    insert_rows(FollowUp, FOLLOWUP_FIELDS, [(row_pk[row[0]], *row[1:]) for row in batch.followups])


def delete_all_records():
    """Delete every patient, delivery and follow-up, and their history, in one statement each.

    QuerySet.delete() would load every row to send the history signals: minutes at a million rows.
    """
    models = [FollowUp, Delivery, Patient]
    tables = [m.history.model._meta.db_table for m in models] + [m._meta.db_table for m in models]
    # One transaction, so that what the insights work out from the patients is cleared (announced
    # below) before the foreign keys are checked.
    with transaction.atomic(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
        records_written(None)
