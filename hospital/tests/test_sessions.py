"""Sessions end after the idle time, at browser close, and never cost a write on every request."""

import time

import pytest
from django.urls import reverse

from hospital.middleware import LAST_SEEN

pytestmark = pytest.mark.django_db


def _idle_for(client, seconds):
    session = client.session
    session[LAST_SEEN] = int(time.time()) - seconds
    session.save()


def test_a_page_after_the_idle_time_logs_out_and_says_why(client, clinician, settings):
    client.force_login(clinician)
    assert client.get(reverse("patients:list")).status_code == 200
    _idle_for(client, settings.SESSION_IDLE_SECONDS + 5)
    response = client.get(reverse("patients:list"), {"q": "sita"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login")) and "idle=30" in response.url and "next=" in response.url
    assert "_auth_user_id" not in client.session
    page = client.get(response.url).content.decode()
    assert "You were logged out after 30 minutes without activity" in page


def test_activity_within_the_idle_time_keeps_the_session(client, clinician, settings):
    client.force_login(clinician)
    _idle_for(client, settings.SESSION_IDLE_SECONDS - 60)
    assert client.get(reverse("patients:list")).status_code == 200
    assert int(time.time()) - client.session[LAST_SEEN] < 5  # the clock restarted


def test_the_api_with_an_idle_session_answers_as_to_anyone_not_logged_in(client, clinician, settings):
    client.force_login(clinician)
    _idle_for(client, settings.SESSION_IDLE_SECONDS + 5)
    assert client.get("/api/patients").status_code in (401, 403)


def test_the_session_cookie_ends_with_the_browser(client, clinician):
    clinician.set_password("a-long-Passphrase-1")
    clinician.save()
    response = client.post(reverse("login"), {"username": clinician.username, "password": "a-long-Passphrase-1"})
    cookie = response.cookies["sessionid"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""


def test_requests_within_a_minute_write_nothing_to_the_session(client, clinician, django_assert_num_queries):
    client.force_login(clinician)
    client.get(reverse("patients:list"))
    with django_assert_num_queries(5):  # session, user, permissions, count, districts: no session write
        client.get(reverse("patients:list"))
