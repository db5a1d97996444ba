"""Login throttling, security headers, the Content-Security-Policy and the production settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from patients import roles
from patients.tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-Passphrase-1"


def _user(username):
    user = make_user(username, roles.CLINICIAN)
    user.set_password(PASSWORD)
    user.save()
    return user


def _log_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.django_db
class TestLoginThrottling:
    def test_five_failures_lock_that_username_from_that_address_with_a_clear_message(self, client):
        _user("nurse")
        for _ in range(4):
            assert _log_in(client, "nurse", "wrong").status_code == 200
        assert _log_in(client, "nurse", "wrong").status_code == 429  # the fifth failure locks
        locked = _log_in(client, "nurse", PASSWORD)  # even the right password, while locked
        assert locked.status_code == 429
        assert "too many failed logins for this username from this computer" in locked.content.decode()
        assert "_auth_user_id" not in client.session

    def test_the_lock_is_for_that_username_only_and_an_administrator_can_lift_it(self, client):
        _user("nurse")
        _user("midwife")
        for _ in range(5):
            _log_in(client, "nurse", "wrong")
        assert _log_in(client, "midwife", PASSWORD).status_code == 302  # same computer, other user
        client.logout()
        call_command("axes_reset_username", "nurse", verbosity=0)
        assert _log_in(client, "nurse", PASSWORD).status_code == 302

    def test_a_success_forgets_earlier_failures(self, client):
        _user("nurse")
        for _ in range(4):
            _log_in(client, "nurse", "wrong")
        assert _log_in(client, "nurse", PASSWORD).status_code == 302
        client.logout()
        for _ in range(4):
            _log_in(client, "nurse", "wrong")
        assert _log_in(client, "nurse", PASSWORD).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/api/docs/", "/api/patients/P1"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_production_settings_pass_the_deploy_check():
    test_only = ("DEBUG", "DJANGO_TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE")  # set for the browser tests
    env = {key: value for key, value in os.environ.items() if key not in test_only}
    env.update(SECRET_KEY=secrets.token_urlsafe(50), HTTPS="1", ALLOWED_HOSTS="records.hospital.example")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _without_a_key():
    return {key: value for key, value in os.environ.items() if key not in ("DEBUG", "DJANGO_TESTING", "SECRET_KEY")}


def test_without_a_secret_key_and_debug_off_the_server_refuses_to_start():
    result = subprocess.run([sys.executable, "-c", "import hospital.wsgi"], cwd=ROOT, env=_without_a_key(),
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0 and "Set the SECRET_KEY environment variable" in result.stderr


def test_without_a_secret_key_commands_that_sign_nothing_still_run():
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], cwd=ROOT,
                            env=_without_a_key(), capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
