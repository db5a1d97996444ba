"""Request middleware of our own."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.urls import reverse

LAST_SEEN = "last_seen"
# The last-seen time is written back at most this often, not on every request (each write is a
# database write of the session).
REFRESH_SECONDS = 60


class IdleTimeoutMiddleware:
    """Log a staff session out after SESSION_IDLE_SECONDS without a request (a ward PC left logged
    in). Pages go to the login page, which says why; the API answers as to anyone not logged in.
    Token-authenticated API calls have no session and are not affected."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now, last_seen = int(time.time()), request.session.get(LAST_SEEN)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_SECONDS:
                logout(request)
                if not request.path.startswith("/api/"):
                    query = urlencode({"next": request.get_full_path(), "idle": settings.SESSION_IDLE_SECONDS // 60})
                    return HttpResponseRedirect(f"{reverse('login')}?{query}")
            elif last_seen is None or now - last_seen >= REFRESH_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


@receiver(user_logged_in)
def _start_the_idle_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())
