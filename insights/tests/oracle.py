"""
A second, independent computation of every insight: pandas over the raw rows, written from the
definitions in DESIGN.md (not from the SQL), for the tests to hold insights.queries to.

Slow and simple on purpose: it reads whole tables, which the real queries must never do.
"""

import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd

from patients.models import Delivery, FollowUp, Patient

CUTOFF = 11.0  # the default ANAEMIA_HB_CUTOFF_G_DL; the tests run with it


class Records:
    """The patients in scope and their follow-ups and deliveries in the date range, as DataFrames."""

    def __init__(self, district=None, date_from=None, date_to=None):
        patients = _frame(
            Patient.objects.values("id", "patient_id", "district__name", "district_id", "weight_kg", "height_cm",
                                   "condition", "name", "age_at_first_pregnancy"),
            ["id", "patient_id", "district__name", "district_id", "weight_kg", "height_cm", "condition", "name",
             "age_at_first_pregnancy"],
        )  # fmt: skip
        deliveries = _frame(
            Delivery.objects.values("id", "patient_id", "date_of_delivery", "type_of_delivery", "term_of_delivery",
                                    "haemoglobin_at_delivery", "weight_at_delivery", "placental_weight"),
            ["id", "patient_id", "date_of_delivery", "type_of_delivery", "term_of_delivery",
             "haemoglobin_at_delivery", "weight_at_delivery", "placental_weight"],
        )  # fmt: skip
        followups = _frame(
            FollowUp.objects.values("id", "patient_id", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl",
                                    "bp_systolic", "bp_diastolic", "diagnosis"),
            ["id", "patient_id", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp_systolic",
             "bp_diastolic", "diagnosis"],
        )  # fmt: skip

        def in_range(dates):
            keep = pd.Series(True, index=dates.index)
            if date_from is not None:
                keep &= dates >= date_from
            if date_to is not None:
                keep &= dates <= date_to
            return keep

        deliveries = deliveries[in_range(deliveries["date_of_delivery"])]
        followups = followups[in_range(followups["visit_date"])]
        if district is not None:
            patients = patients[patients["district_id"] == getattr(district, "pk", district)]
        if date_from is not None or date_to is not None:
            active = set(deliveries["patient_id"]) | set(followups["patient_id"])
            patients = patients[patients["id"].isin(active)]
        self.patients = patients.set_index("id", drop=False)
        self.deliveries = deliveries[deliveries["patient_id"].isin(self.patients.index)]
        self.followups = followups[followups["patient_id"].isin(self.patients.index)]

    def readings(self):
        """Every haemoglobin reading, in time order (on one day a delivery before a follow-up)."""
        d = self.deliveries.dropna(subset=["haemoglobin_at_delivery"])
        f = self.followups.dropna(subset=["haemoglobin_g_dl"])
        readings = pd.concat([
            pd.DataFrame({"patient_id": d["patient_id"], "date": d["date_of_delivery"], "source": 0, "seq": 0,
                          "hb": d["haemoglobin_at_delivery"]}),
            pd.DataFrame({"patient_id": f["patient_id"], "date": f["visit_date"], "source": 1,
                          "seq": f["visit_number"], "hb": f["haemoglobin_g_dl"]}),
        ])  # fmt: skip
        return readings.sort_values(["patient_id", "date", "source", "seq"])

    def current_hb(self):
        return self.readings().groupby("patient_id")["hb"].last()

    def current_reading(self):
        """Each patient's current haemoglobin reading: its value (hb) and date."""
        return self.readings().groupby("patient_id")[["hb", "date"]].last()

    def latest_bp(self):
        """Each patient's latest follow-up with both blood pressure values (by visit date, then
        visit number): systolic, diastolic and date."""
        f = self.followups.dropna(subset=["bp_systolic", "bp_diastolic"])
        f = f.sort_values(["patient_id", "visit_date", "visit_number"])
        latest = f.groupby("patient_id")[["bp_systolic", "bp_diastolic", "visit_date"]].last()
        return latest.rename(columns={"bp_systolic": "systolic", "bp_diastolic": "diastolic", "visit_date": "date"})

    def first_hb(self):
        return self.readings().groupby("patient_id")["hb"].first()


def _frame(rows, columns):
    return pd.DataFrame(list(rows), columns=columns)


def _mean(series):
    series = series.dropna()
    return None if series.empty else float(series.mean())


def _mentions(text):
    text = (text or "").lower()
    return any(word in text for word in ("anemia", "anaemia", "anemic", "anaemic", "low hb", "hb low"))


# DESIGN.md, "Hypertension by keyword": word parts anywhere, abbreviations only as whole words.
HYPERTENSION_PARTS = ("hypertens", "eclampsia")
HYPERTENSION_WORDS = {"pih", "htn", "hellp"}


def _mentions_hypertension(text):
    text = (text or "").lower()
    words = set(re.findall(r"\w+", text))
    return any(part in text for part in HYPERTENSION_PARTS) or bool(words & HYPERTENSION_WORDS)


def bp_band(systolic, diastolic):
    """DESIGN.md, "Hypertension by value": >= 160 or >= 110 severe, >= 140 or >= 90 high."""
    if systolic is None or diastolic is None:
        return None
    if systolic >= 160 or diastolic >= 110:
        return "severe"
    if systolic >= 140 or diastolic >= 90:
        return "high"
    return "normal"


def priority(hb, band, hypertension_keyword):
    """DESIGN.md, "Triage priority", of a patient already known to be high-risk."""
    if (hb is not None and hb < 7) or band == "severe":
        return 1
    if (hb is not None and hb < 10) or band == "high" or hypertension_keyword:
        return 2
    return 3


def bmi_below_18_5(height_cm, weight_kg):
    """Body-mass index below 18.5, in exact arithmetic from the recorded decimals."""
    if _missing(height_cm) or _missing(weight_kg):
        return False
    metres = Fraction(repr(float(height_cm))) / 100
    return Fraction(repr(float(weight_kg))) / (metres * metres) < Fraction(37, 2)


def risk_factors(patient, n_preterm):
    """DESIGN.md, "Risk factors", in its order."""
    factors = []
    if not _missing(patient["age_at_first_pregnancy"]) and patient["age_at_first_pregnancy"] < 20:
        factors.append("adolescent_pregnancy")
    if not _missing(patient["height_cm"]) and patient["height_cm"] < 145:
        factors.append("short_stature")
    if bmi_below_18_5(patient["height_cm"], patient["weight_kg"]):
        factors.append("underweight")
    if n_preterm:
        factors.append("preterm_delivery")
    return factors


RISK_FACTOR_CODES = ("adolescent_pregnancy", "short_stature", "underweight", "preterm_delivery")


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int_or_none(value):
    return None if _missing(value) else int(value)


def severity(hb):
    if hb < 7:
        return "severe"
    if hb < 10:
        return "moderate"
    if hb < CUTOFF:
        return "mild"
    return "none"


def high_risk_patients(records):
    """{patient_id: row} of every high-risk patient, her reasons in DESIGN.md's order."""
    current = records.current_reading()
    bps = records.latest_bp()
    rows = {}
    for pk, patient in records.patients.iterrows():
        own_followups = records.followups[records.followups["patient_id"] == pk]
        own_deliveries = records.deliveries[records.deliveries["patient_id"] == pk].sort_values("date_of_delivery")
        hb = float(current.loc[pk, "hb"]) if pk in current.index else None
        hb_date = current.loc[pk, "date"] if pk in current.index else None
        systolic, diastolic, bp_date = (
            (int(bps.loc[pk, "systolic"]), int(bps.loc[pk, "diastolic"]), bps.loc[pk, "date"])
            if pk in bps.index else (None, None, None)
        )  # fmt: skip
        band = bp_band(systolic, diastolic)
        notes = [patient["condition"], *own_followups["diagnosis"]]
        hypertension_keyword = any(_mentions_hypertension(text) for text in notes)
        reasons = []
        if any(_mentions(text) for text in notes):
            reasons.append("anaemia_keyword")
        if hb is not None and hb < CUTOFF:
            reasons.append("low_haemoglobin")
        if (own_deliveries["type_of_delivery"] == "c_section").any():
            reasons.append("c_section")
        if band in ("high", "severe"):
            reasons.append("high_blood_pressure")
        if hypertension_keyword:
            reasons.append("hypertension_keyword")
        if reasons:
            dates = [day for day in (hb_date, bp_date) if day is not None]
            rows[patient["patient_id"]] = {
                "reasons": reasons,
                "priority": priority(hb, band, hypertension_keyword),
                "haemoglobin_g_dl": hb,
                "haemoglobin_date": hb_date,
                "severity": None if hb is None else severity(hb),
                "bp_systolic": systolic,
                "bp_diastolic": diastolic,
                "bp_date": bp_date,
                "bp_band": band,
                "latest_reading_date": max(dates) if dates else None,
                "delivery_type": own_deliveries["type_of_delivery"].iloc[-1] if len(own_deliveries) else None,
                "district": patient["district__name"],
            }
    return rows


def by_priority(rows):
    """The patient_ids of high_risk_patients' rows in the default order: priority, then her latest
    reading (haemoglobin or blood pressure) most recent first, none last, then patient_id."""

    def key(item):
        patient_id, row = item
        day = row["latest_reading_date"]
        return (row["priority"], day is None, -(day.toordinal() if day else 0), patient_id)

    return [patient_id for patient_id, _ in sorted(rows.items(), key=key)]


def district_metrics(records):
    current = records.current_hb()
    bps = records.latest_bp()
    preterm = records.deliveries[records.deliveries["term_of_delivery"] == "preterm"].groupby("patient_id").size()
    rows = {}
    for name, patients in records.patients.groupby("district__name"):
        ids = set(patients["id"])
        deliveries = records.deliveries[records.deliveries["patient_id"].isin(ids)]
        hbs = current[current.index.isin(ids)]
        bands = [bp_band(row.systolic, row.diastolic) for row in bps[bps.index.isin(ids)].itertuples()]
        factors = [
            factor for pk, patient in patients.iterrows() for factor in risk_factors(patient, int(preterm.get(pk, 0)))
        ]
        rows[name] = {
            "n_patients": len(patients),
            "n_deliveries": len(deliveries),
            "n_caesarean": int((deliveries["type_of_delivery"] == "c_section").sum()),
            "n_with_haemoglobin": len(hbs),
            "n_anaemic": int((hbs < CUTOFF).sum()),
            "n_mild": int(hbs.map(severity).eq("mild").sum()),
            "n_moderate": int(hbs.map(severity).eq("moderate").sum()),
            "n_severe": int(hbs.map(severity).eq("severe").sum()),
            "mean_haemoglobin_g_dl": _mean(hbs),
            "n_with_blood_pressure": len(bands),
            "n_high_blood_pressure": sum(band in ("high", "severe") for band in bands),
            "n_severe_blood_pressure": sum(band == "severe" for band in bands),
            "hypertension_prevalence": (
                sum(band in ("high", "severe") for band in bands) / len(bands) if bands else None
            ),
            **{f"n_{code}": factors.count(code) for code in RISK_FACTOR_CODES},
            "n_with_weight": int(patients["weight_kg"].notna().sum()),
            "mean_weight_kg": _mean(patients["weight_kg"]),
            "n_followups": int(records.followups["patient_id"].isin(ids).sum()),
        }
    return rows


def trends(records):
    f = records.followups

    def measures(group):
        return {
            "n_visits": len(group),
            "n_weight": int(group["weight_kg"].notna().sum()),
            "mean_weight_kg": _mean(group["weight_kg"]),
            "n_haemoglobin": int(group["haemoglobin_g_dl"].notna().sum()),
            "mean_haemoglobin_g_dl": _mean(group["haemoglobin_g_dl"]),
        }

    by_visit = {int(number): measures(group) for number, group in f.groupby("visit_number")}
    months = f["visit_date"].map(lambda day: f"{day.year:04d}-{day.month:02d}")
    by_month = {month: measures(group) for month, group in f.groupby(months)}
    change = {}
    for column, key in (("weight_kg", "weight"), ("haemoglobin_g_dl", "haemoglobin")):
        values = f.dropna(subset=[column]).sort_values(["patient_id", "visit_date", "visit_number"])
        per_patient = values.groupby("patient_id")[column].agg(["first", "last", "count"])
        per_patient = per_patient[per_patient["count"] >= 2]
        change[f"n_{key}"] = len(per_patient)
        change[key] = _mean(per_patient["last"] - per_patient["first"])
    return {"by_visit": by_visit, "by_month": by_month, "change": change}


def average_weight(records):
    """Per district name: (mean recorded weight, patients with one, mean latest follow-up weight,
    patients with one), unrounded."""
    f = records.followups.dropna(subset=["weight_kg"]).sort_values(["patient_id", "visit_date", "visit_number"])
    latest = f.groupby("patient_id")["weight_kg"].last()
    found = {}
    for name, patients in records.patients.groupby("district__name"):
        theirs = latest[latest.index.isin(patients["id"])]
        found[name] = (_mean(patients["weight_kg"]), int(patients["weight_kg"].notna().sum()), _mean(theirs),
                       len(theirs))  # fmt: skip
    return found


def delivery_outcomes(records):
    d = records.deliveries.sort_values(["patient_id", "date_of_delivery"])
    f = records.followups.dropna(subset=["haemoglobin_g_dl"]).sort_values(["visit_date", "visit_number"])
    next_hb = {}
    for patient_id, deliveries in d.groupby("patient_id"):
        visits = f[f["patient_id"] == patient_id]
        dates = list(deliveries["date_of_delivery"])
        for index, (delivery_id, day) in enumerate(zip(deliveries["id"], dates, strict=True)):
            following = dates[index + 1] if index + 1 < len(dates) else None
            after = visits[(visits["visit_date"] >= day) & ((visits["visit_date"] < following) if following else True)]
            if len(after):
                next_hb[delivery_id] = after["haemoglobin_g_dl"].iloc[0]
    d = d.assign(next_hb=d["id"].map(next_hb))
    rows = {}
    for code in ("normal", "assisted", "c_section"):
        group = d[d["type_of_delivery"] == code]
        at_delivery = group["haemoglobin_at_delivery"].dropna()
        next_visit = group["next_hb"].dropna()
        rows[code] = {
            "n_deliveries": len(group),
            "n_haemoglobin_at_delivery": len(at_delivery),
            "n_anaemic_at_delivery": int((at_delivery < CUTOFF).sum()),
            "mean_haemoglobin_at_delivery": _mean(at_delivery),
            "n_haemoglobin_next_visit": len(next_visit),
            "n_anaemic_next_visit": int((next_visit < CUTOFF).sum()),
            "mean_haemoglobin_next_visit": _mean(next_visit),
            "n_term_recorded": int((group["term_of_delivery"] != "").sum()),
            "n_preterm": int((group["term_of_delivery"] == "preterm").sum()),
        }
    return rows


def chi_square(table):
    """Pearson's statistic by hand: sum of (observed - expected)^2 / expected."""
    table = np.array([row for row in table if any(row)], dtype=float)
    table = table[:, table.sum(axis=0) > 0] if table.size else table
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    return float(((table - expected) ** 2 / expected).sum()), (table.shape[0] - 1) * (table.shape[1] - 1)


def followup_effect(records):
    readings = records.readings()
    first = readings.groupby("patient_id")["hb"].first()
    latest = readings.groupby("patient_id")["hb"].last()
    count = readings.groupby("patient_id")["hb"].count()
    visits = records.followups.groupby("patient_id").size()
    by_count, by_timing = {}, {}
    for pk in records.patients.index:
        n_visits = int(visits.get(pk, 0))
        count_label = ["0", "1", "2-3", "2-3", "4-7", "4-7", "4-7", "4-7"][n_visits] if n_visits < 8 else "8 or more"
        outcome = {"change": None, "anaemic_first": False, "resolved": False}
        if count.get(pk, 0) >= 2:
            outcome["change"] = latest[pk] - first[pk]
            outcome["anaemic_first"] = bool(first[pk] < CUTOFF)
            outcome["resolved"] = bool(first[pk] < CUTOFF and latest[pk] >= CUTOFF)
        by_count.setdefault(count_label, []).append(outcome)
        own = records.deliveries[records.deliveries["patient_id"] == pk]
        if len(own):
            delivered = own["date_of_delivery"].max()
            own_visits = records.followups[
                (records.followups["patient_id"] == pk) & (records.followups["visit_date"] >= delivered)
            ]
            if not len(own_visits):
                label = "no follow-up"
            else:
                days = (own_visits["visit_date"].min() - delivered).days
                label = next(
                    label for label, last_day in [("0-3 days", 3), ("4-14 days", 14), ("15-42 days", 42),
                                                  ("after 42 days", 10**6)] if days <= last_day
                )  # fmt: skip
            by_timing.setdefault(label, []).append(outcome)

    def summary(outcomes):
        changes = [o["change"] for o in outcomes if o["change"] is not None]
        return {
            "n_patients": len(outcomes),
            "n_with_change": len(changes),
            "mean_haemoglobin_change_g_dl": float(np.mean(changes)) if changes else None,
            "n_anaemic_at_first": sum(o["anaemic_first"] for o in outcomes),
            "n_resolved": sum(o["resolved"] for o in outcomes),
        }

    return (
        {label: summary(outcomes) for label, outcomes in by_count.items()},
        {label: summary(outcomes) for label, outcomes in by_timing.items()},
    )


def anomalies(records):
    """{(rule, record, patient_id, field, date, visit_number): value}, and the z-scores of the
    district rule (for the tests to leave out values a rounding away from the 3-SD line)."""
    patients = records.patients
    district_of = patients["district_id"]
    f, d = records.followups, records.deliveries
    screened = []
    for field in ("weight_kg", "haemoglobin_g_dl", "bp_systolic", "bp_diastolic"):
        screened.append(("follow-up", field, f["patient_id"], f["visit_date"], f["visit_number"], f[field]))
    for field in ("weight_at_delivery", "haemoglobin_at_delivery", "placental_weight"):
        screened.append(("delivery", field, d["patient_id"], d["date_of_delivery"], None, d[field]))
    for field in ("weight_kg", "height_cm"):
        screened.append(("patient", field, patients["id"], None, None, patients[field]))
    flags, z_scores = {}, {}
    for record, field, patient_pks, dates, visits, values in screened:
        frame = pd.DataFrame({"pk": patient_pks, "value": values.astype(float)})
        frame["date"] = dates if dates is not None else None
        frame["visit"] = visits if visits is not None else None
        frame = frame.dropna(subset=["value"])
        frame["district"] = frame["pk"].map(district_of)
        for _, group in frame.groupby("district"):
            mean = group["value"].mean()
            sd = group["value"].std(ddof=0)
            if not sd > 0:
                continue
            for row in group.itertuples():
                z = (row.value - mean) / sd
                key = ("district_sd", record, patients.loc[row.pk, "patient_id"], field, row.date,
                       None if row.visit is None or pd.isna(row.visit) else int(row.visit))  # fmt: skip
                z_scores[key] = z
                if abs(z) > 3:
                    flags[key] = row.value
    for field, limit in (("weight_kg", 5.0), ("haemoglobin_g_dl", 3.0)):
        values = f.dropna(subset=[field]).sort_values(["patient_id", "visit_date", "visit_number"])
        for _, visits in values.groupby("patient_id"):
            previous = None
            for row in visits.itertuples():
                value = getattr(row, field)
                if previous is not None and abs(value - previous) - limit > 1e-9:
                    key = ("visit_jump", "follow-up", patients.loc[row.patient_id, "patient_id"], field,
                           row.visit_date, int(row.visit_number))  # fmt: skip
                    flags[key] = value
                previous = value
    return flags, z_scores


def close(a, b, tolerance=1e-9):
    """Equal, or both numbers within `tolerance` (relative for large values)."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)
