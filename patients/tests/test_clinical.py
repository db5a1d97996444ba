import datetime

import pytest

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


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("NVD", "normal"),
        ("svd", "normal"),
        ("Normal", "normal"),
        ("LSCS", "c_section"),
        ("C-section", "c_section"),
        ("C/S", "c_section"),
        ("CS", "c_section"),
        ("Caesarean", "c_section"),
        ("cesarean", "c_section"),
        ("Emergency LSCS", "c_section"),
        (" c_section ", "c_section"),
        ("Vacuum", "assisted"),
        ("forceps", "assisted"),
        ("twins", None),
        ("", None),
        (None, None),
    ],
)
def test_delivery_type_spellings(typed, code):
    assert clinical.delivery_type_code(typed) == code


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
