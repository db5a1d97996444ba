import datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from patients import clinical


@pytest.mark.parametrize(
    ("hb", "severity"),
    [
        (6.9, "severe"),
        (7.0, "moderate"),
        (9.9, "moderate"),
        (10.0, "mild"),
        (10.9, "mild"),
        (11.0, "none"),
        (14.2, "none"),
        (None, None),
    ],
)
def test_who_severity_bands(hb, severity):
    assert clinical.anaemia_severity(hb) == severity


def test_the_cut_off_is_a_setting(settings):
    assert clinical.is_anaemic(11.5) is False
    settings.ANAEMIA_HB_CUTOFF_G_DL = 12.0
    assert clinical.is_anaemic(11.5) is True
    assert clinical.anaemia_severity(11.5) == "mild"
    assert clinical.is_anaemic(None) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Anaemia", True),
        ("known ANEMIC", True),
        ("iron-deficiency anaemia", True),
        ("Low Hb", True),
        ("hb low since May", True),
        ("anemia", True),
        ("hypertension", False),
        ("", False),
        (None, False),
        ("Hb 9.5", False),
    ],
)
def test_anaemia_keywords(text, found):
    assert clinical.mentions_anaemia(text) is found


def test_current_haemoglobin_is_the_latest_reading_by_date():
    day = datetime.date
    readings = [
        (day(2024, 1, 10), clinical.DELIVERY, 9.0),
        (day(2024, 1, 10), clinical.FOLLOW_UP, 9.6),  # same day: the follow-up comes after the birth
        (day(2024, 3, 1), clinical.FOLLOW_UP, None),  # a visit without a reading is passed over
        (day(2023, 5, 1), clinical.FOLLOW_UP, 12.0),
    ]
    assert clinical.latest_reading(readings)[:3] == (day(2024, 1, 10), clinical.FOLLOW_UP, 9.6)
    # Two visits on one day: the later-numbered visit is the later reading.
    same_day = [(day(2024, 2, 1), clinical.FOLLOW_UP, 10.5, 3), (day(2024, 2, 1), clinical.FOLLOW_UP, 9.9, 2)]
    assert clinical.latest_reading(same_day).value == 10.5
    assert clinical.latest_reading([(day(2024, 1, 1), clinical.DELIVERY, None)]) is None
    assert clinical.latest_reading([]) is None


def test_g_per_litre_hint_only_when_dividing_by_ten_fits():
    assert "looks like g/L" in clinical.haemoglobin_range_error(105)
    assert "looks like g/L" not in clinical.haemoglobin_range_error(25)
    assert "looks like g/L" not in clinical.haemoglobin_range_error(2.5)


# --- Clinical risk v2: hypertension, triage priority, risk factors --------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("hypertension", True),
        ("Chronic HYPERTENSION", True),
        ("hypertensive disorder", True),
        ("pre-eclampsia", True),
        ("Preeclampsia", True),
        ("pre eclampsia", True),
        ("eclampsia", True),
        ("PIH", True),
        ("pih.", True),
        ("known PIH, on labetalol", True),
        ("PIH/HTN", True),
        ("(htn)", True),
        ("HELLP syndrome", True),
        ("hellp", True),
        ("pihu", False),  # not the whole word
        ("phillip", False),
        ("ship", False),
        ("HTNs", False),
        ("pih2", False),
        ("pih_2", False),
        ("helpful", False),
        ("hyper tension", False),
        ("raised BP", False),
        ("anaemia", False),
        ("", False),
        (None, False),
    ],
)
def test_hypertension_keywords_with_abbreviations_as_whole_words(text, found):
    assert clinical.mentions_hypertension(text) is found


@pytest.mark.parametrize(
    ("systolic", "diastolic", "band"),
    [
        (139, 89, "normal"),
        (110, 70, "normal"),
        (140, 89, "high"),
        (139, 90, "high"),
        (140, 90, "high"),
        (159, 109, "high"),
        (160, 109, "severe"),
        (159, 110, "severe"),
        (160, 110, "severe"),
        (220, 130, "severe"),
        (None, 95, None),
        (150, None, None),
        (None, None, None),
    ],
)
def test_blood_pressure_bands_at_their_edges(systolic, diastolic, band):
    assert clinical.blood_pressure_band(systolic, diastolic) == band


def test_latest_blood_pressure_is_the_latest_visit_with_both_values():
    day = datetime.date
    readings = [
        (day(2024, 1, 10), 1, 150, 95),
        (day(2024, 2, 10), 3, 170, None),  # later, but only one value: passed over
        (day(2024, 3, 10), 4, None, 115),
        (day(2023, 12, 1), 2, 120, 80),  # numbered after visit 1, dated before it
    ]
    assert clinical.latest_blood_pressure(readings) == clinical.BloodPressure(day(2024, 1, 10), 1, 150, 95)
    same_day = [(day(2024, 1, 10), 2, 118, 76), (day(2024, 1, 10), 3, 145, 92), (day(2024, 1, 10), 1, 165, 99)]
    assert clinical.latest_blood_pressure(same_day).systolic == 145  # the later-numbered visit
    assert clinical.latest_blood_pressure([(day(2024, 1, 10), 1, 150, None)]) is None
    assert clinical.latest_blood_pressure([]) is None


def _facts(**given):
    """A patient's facts with nothing known unless given."""
    return {**dict.fromkeys(FACT_TYPES), **given}


@pytest.mark.parametrize(
    ("facts", "reasons", "priority"),
    [
        ({}, [], None),
        ({"current_haemoglobin_g_dl": 11.0}, [], None),
        ({"current_haemoglobin_g_dl": 10.9}, ["low_haemoglobin"], 3),
        ({"current_haemoglobin_g_dl": 10.0}, ["low_haemoglobin"], 3),
        ({"current_haemoglobin_g_dl": 9.9}, ["low_haemoglobin"], 2),
        ({"current_haemoglobin_g_dl": 7.0}, ["low_haemoglobin"], 2),
        ({"current_haemoglobin_g_dl": 6.9}, ["low_haemoglobin"], 1),
        ({"n_caesarean": 1}, ["c_section"], 3),
        ({"n_caesarean": 0, "anaemia_keyword": False}, [], None),
        ({"anaemia_keyword": True}, ["anaemia_keyword"], 3),
        ({"hypertension_keyword": True}, ["hypertension_keyword"], 2),
        ({"latest_bp_systolic": 139, "latest_bp_diastolic": 89}, [], None),
        ({"latest_bp_systolic": 140, "latest_bp_diastolic": 80}, ["high_blood_pressure"], 2),
        ({"latest_bp_systolic": 120, "latest_bp_diastolic": 90}, ["high_blood_pressure"], 2),
        ({"latest_bp_systolic": 160, "latest_bp_diastolic": 100}, ["high_blood_pressure"], 1),
        ({"latest_bp_systolic": 150, "latest_bp_diastolic": 110}, ["high_blood_pressure"], 1),
        ({"current_haemoglobin_g_dl": 12.0, "n_caesarean": 2, "latest_bp_systolic": 165, "latest_bp_diastolic": 95,
          "anaemia_keyword": True, "hypertension_keyword": True},
         ["anaemia_keyword", "c_section", "high_blood_pressure", "hypertension_keyword"], 1),
        # Risk factors alone make nobody high-risk.
        ({"age_at_first_pregnancy": 15, "height_cm": 140.0, "bmi": 16.0, "n_preterm": 2}, [], None),
    ],
)  # fmt: skip
def test_reasons_and_triage_priority(facts, reasons, priority):
    facts = _facts(**facts)
    assert clinical.risk_reasons(facts) == reasons
    assert clinical.triage_priority(facts) == priority
    risk = clinical.assess(facts)
    assert (risk.reasons, risk.priority, risk.high_risk) == (reasons, priority, bool(reasons))


def test_priority_2_for_haemoglobin_below_10_even_when_the_cut_off_is_lower(settings):
    settings.ANAEMIA_HB_CUTOFF_G_DL = 9.0  # 9.5 is no longer anaemia, but still below 10.0
    facts = _facts(current_haemoglobin_g_dl=9.5, n_caesarean=1)
    assert (clinical.risk_reasons(facts), clinical.triage_priority(facts)) == (["c_section"], 2)
    assert clinical.triage_priority(_facts(current_haemoglobin_g_dl=9.5)) is None


def test_priority_and_reason_words():
    assert [clinical.priority_label(level) for level in (1, 2, 3, None)] == [
        "Priority 1 (urgent)", "Priority 2 (soon)", "Priority 3 (routine)", ""]  # fmt: skip
    assert [clinical.label(code) for code in clinical.REASON_CODES] == [
        "Anaemia written in the notes", "Haemoglobin below 11 g/dL", "Caesarean delivery",
        "Blood pressure 140/90 or above", "Hypertension written in the notes",
    ]  # fmt: skip
    assert clinical.REASON_CODES == (
        "anaemia_keyword", "low_haemoglobin", "c_section", "high_blood_pressure", "hypertension_keyword")  # fmt: skip
    assert clinical.RISK_FACTOR_CODES == ("adolescent_pregnancy", "short_stature", "underweight", "preterm_delivery")


def test_body_mass_index():
    assert clinical.body_mass_index(160.0, 64.0) == pytest.approx(25.0)
    assert clinical.body_mass_index(200.0, 74.0) == 18.5
    assert clinical.body_mass_index(145.0, 38.8) == pytest.approx(18.4542, abs=1e-4)
    assert clinical.body_mass_index(None, 50.0) is None
    assert clinical.body_mass_index(150.0, None) is None


@pytest.mark.parametrize(
    ("facts", "factors"),
    [
        ({}, []),
        ({"age_at_first_pregnancy": 19}, ["adolescent_pregnancy"]),
        ({"age_at_first_pregnancy": 20}, []),
        ({"height_cm": 144.9}, ["short_stature"]),
        ({"height_cm": 145.0}, []),
        ({"bmi": clinical.body_mass_index(145.0, 38.8)}, ["underweight"]),
        ({"bmi": clinical.body_mass_index(145.0, 38.9)}, []),  # 18.50...
        ({"bmi": clinical.body_mass_index(200.0, 74.0)}, []),  # exactly 18.5
        ({"n_preterm": 1}, ["preterm_delivery"]),
        ({"n_preterm": 0}, []),
        ({"age_at_first_pregnancy": 16, "height_cm": 140.0, "bmi": 17.0, "n_preterm": 2},
         ["adolescent_pregnancy", "short_stature", "underweight", "preterm_delivery"]),
    ],
)  # fmt: skip
def test_risk_factors_at_their_edges(facts, factors):
    assert clinical.risk_factors(_facts(**facts)) == factors
    assert clinical.assess(_facts(**facts)).factors == factors


def test_a_risk_carries_her_readings():
    day = datetime.date(2024, 1, 10)
    current = clinical.Reading(day, clinical.FOLLOW_UP, 6.5, 2)
    bp = clinical.BloodPressure(day, 2, 165, 100)
    facts = _facts(current_haemoglobin_g_dl=6.5, latest_bp_systolic=165, latest_bp_diastolic=100)
    risk = clinical.assess(facts, current, bp)
    assert (risk.haemoglobin_g_dl, risk.severity, risk.priority) == (6.5, "severe", 1)
    assert risk.blood_pressure_band == "severe"
    nothing = clinical.assess(_facts())
    assert (nothing.haemoglobin_g_dl, nothing.severity, nothing.blood_pressure_band) == (None, None, None)


# --- Each rule's SQL says what its Python says, on a real database connection ------------------------

# The facts the rules read, with the SQL type a stored or live fact has.
FACT_TYPES = {
    "anaemia_keyword": "BOOLEAN",
    "hypertension_keyword": "BOOLEAN",
    "current_haemoglobin_g_dl": "DOUBLE PRECISION",
    "n_caesarean": "INTEGER",
    "n_preterm": "INTEGER",
    "latest_bp_systolic": "INTEGER",
    "latest_bp_diastolic": "INTEGER",
    "age_at_first_pregnancy": "INTEGER",
    "height_cm": "DOUBLE PRECISION",
    "bmi": "DOUBLE PRECISION",
}
FACT_VALUES = {
    "anaemia_keyword": [None, False, True],
    "hypertension_keyword": [None, False, True],
    "current_haemoglobin_g_dl": [None, 3.0, 6.9, 7.0, 9.9, 10.0, 10.9, 11.0, 11.5, 12.0, 20.0],
    "n_caesarean": [None, 0, 1, 2],
    "n_preterm": [None, 0, 1, 3],
    "latest_bp_systolic": [None, 100, 139, 140, 159, 160, 200],
    "latest_bp_diastolic": [None, 60, 89, 90, 109, 110, 130],
    "age_at_first_pregnancy": [None, 14, 19, 20, 30],
    "height_cm": [None, 120.0, 144.9, 145.0, 145.1, 170.0],
    "bmi": [None, 15.0, 18.49, 18.5, 18.51, 30.0],
}


def _rules():
    """Every rule with SQL: the reasons, priorities, risk factors and the tests they are built of."""
    return {
        **{f"reason {rule.code}": rule.test for rule in clinical.REASONS},
        **{f"priority {rule.code}": rule.test for rule in clinical.PRIORITIES[:-1]},
        **{f"factor {rule.code}": rule.test for rule in clinical.RISK_FACTORS},
        "high blood pressure": clinical.HIGH_BLOOD_PRESSURE_TEST,
        "severe blood pressure": clinical.SEVERE_BLOOD_PRESSURE_TEST,
        "high-risk": clinical.HIGH_RISK_TEST,
    }


def _sql_verdicts(facts_list):
    """Each rule's SQL, and triage_priority_sql, on each facts dict: run by the database."""
    columns = {name: f"fact.{name}" for name in FACT_TYPES}
    rules = _rules()
    selects = [f"CASE WHEN {test.sql(columns)} THEN 1 ELSE 0 END" for test in rules.values()]
    selects.append(clinical.triage_priority_sql(columns))
    values = ", ".join(f"CAST(%s AS {kind}) AS {name}" for name, kind in FACT_TYPES.items())
    one = f"SELECT {', '.join(selects)} FROM (SELECT {values}) fact"
    sql = " UNION ALL ".join([one] * len(facts_list))
    params = [facts[name] for facts in facts_list for name in FACT_TYPES]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [(dict(zip(rules, (bool(v) for v in row[:-1]), strict=True)), row[-1]) for row in rows]


def _assert_sql_agrees(facts_list):
    for facts, (verdicts, priority) in zip(facts_list, _sql_verdicts(facts_list), strict=True):
        for name, test in _rules().items():
            assert verdicts[name] == test.holds(facts), (name, facts)
        if clinical.HIGH_RISK_TEST.holds(facts):
            assert priority == clinical.triage_priority(facts), facts


@pytest.mark.django_db
@given(st.lists(st.fixed_dictionaries({name: st.sampled_from(v) for name, v in FACT_VALUES.items()}), min_size=1,
                max_size=50))  # fmt: skip
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_rules_sql_agrees_with_its_python(facts_list):
    _assert_sql_agrees(facts_list)


@pytest.mark.django_db
def test_every_rules_sql_agrees_with_its_python_at_each_edge(settings):
    edges = [_facts(**{name: value}) for name, values in FACT_VALUES.items() for value in values]
    edges += [_facts(latest_bp_systolic=s, latest_bp_diastolic=d) for s in FACT_VALUES["latest_bp_systolic"]
              for d in FACT_VALUES["latest_bp_diastolic"]]  # fmt: skip
    _assert_sql_agrees(edges)
    settings.ANAEMIA_HB_CUTOFF_G_DL = 12.0  # the SQL reads the setting when written, as the Python does
    assert clinical.REASONS[1].holds(_facts(current_haemoglobin_g_dl=11.5))
    _assert_sql_agrees(edges)


@pytest.mark.django_db
@pytest.mark.parametrize(("height_cm", "weight_kg"), [(160.0, 47.36), (200.0, 74.0), (145.0, 38.9), (152.4, 41.3)])
def test_the_body_mass_index_sql_computes_the_same_number(height_cm, weight_kg):
    bmi = clinical.BMI_SQL.format(weight="CAST(%s AS DOUBLE PRECISION)", height="CAST(%s AS DOUBLE PRECISION)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {bmi}", [weight_kg, height_cm, height_cm])
        ((got,),) = cursor.fetchall()
    assert got == clinical.body_mass_index(height_cm, weight_kg)
