"""
The reference workbook for import benchmarks: N patients, one delivery each, and F follow-ups
(five per patient by default), with plausible values drawn from a fixed seed.

    .venv/bin/python bench/reference_workbook.py out.xlsx [--patients 20000] [--followups 100000]
"""

import argparse
import datetime
import random

from openpyxl import Workbook

DISTRICTS = ["Kathmandu", "Lalitpur", "Kaski", "Chitwan", "Morang", "Jhapa", "Rupandehi", "Banke", "Kailali", "Dang"]
DELIVERY_TYPES = ["NVD", "normal", "LSCS", "C-section", "vacuum"]


def build(path, patients=20_000, followups=100_000, seed=1, only_followups=False):
    """Write the workbook; with only_followups, just its followups sheet (same values, same seed)."""
    rng = random.Random(seed)
    workbook = Workbook(write_only=True)

    class Discard:
        def append(self, row):
            pass

    sheet = Discard() if only_followups else workbook.create_sheet("patients")
    sheet.append(["patient_id", "name", "height_cm", "weight_kg", "education_level", "monthly_income",
                  "age_at_menarche", "age_at_marriage", "age_at_first_pregnancy", "district", "village",
                  "occupation", "diet", "condition"])  # fmt: skip
    for n in range(patients):
        menarche = rng.randint(11, 15)
        marriage = menarche + rng.randint(3, 10)
        sheet.append([f"R{n:07d}", f"Patient {n}", round(rng.gauss(152, 6), 1), max(35.0, round(rng.gauss(52, 7), 1)),
                      rng.randint(0, 4), rng.randint(5, 80) * 500, menarche, marriage, marriage + rng.randint(0, 3),
                      rng.choice(DISTRICTS), f"Ward {rng.randint(1, 30)}", "Homemaker", "Mixed",
                      rng.choice(["", "", "", "Anaemia", "Hypothyroidism"])])  # fmt: skip
    sheet = Discard() if only_followups else workbook.create_sheet("deliveries")
    sheet.append(["patient_id", "date_of_delivery", "age_at_delivery", "weight_at_delivery",
                  "haemoglobin_at_delivery", "placental_weight", "term_of_delivery", "type_of_delivery"])  # fmt: skip
    deliveries = {}
    for n in range(patients):
        day = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 1800))
        deliveries[n] = day
        sheet.append([f"R{n:07d}", day, None, round(rng.gauss(61, 7), 1), round(rng.gauss(10.9, 1.3), 1),
                      rng.randint(350, 700), "term", rng.choice(DELIVERY_TYPES)])  # fmt: skip
    sheet = workbook.create_sheet("followups")
    sheet.append(["patient_id", "visit_number", "visit_date", "bp_systolic", "bp_diastolic", "weight_kg",
                  "haemoglobin_g_dl", "diagnosis"])  # fmt: skip
    per_patient = max(1, followups // patients)
    for i in range(followups):
        n, visit = i // per_patient % patients, i % per_patient + 1 + i // (per_patient * patients) * per_patient
        day = deliveries[n] + datetime.timedelta(days=7 * visit)
        systolic = rng.randint(95, 140)
        weight = max(35.0, round(rng.gauss(56, 7), 1))
        sheet.append([f"R{n:07d}", visit, day, systolic, systolic - rng.randint(25, 45), weight,
                      round(rng.gauss(11, 1.2), 1), rng.choice(["", "", "", "mild anaemia", "Normal"])])  # fmt: skip
    workbook.save(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--followups", type=int, default=100_000)
    args = parser.parse_args()
    build(args.path, args.patients, args.followups)
