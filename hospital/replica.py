"""
A read replica for the insights (README "Past one machine").

With DATABASE_REPLICA_URL set (a PostgreSQL streaming replica of the primary), the insights read
their stored facts, their analyses and the data version from the `replica` database; everything
else (the records, sessions, the cache table, every write) stays on the primary. A user who wrote
within READ_YOUR_WRITES_SECONDS reads the insights from the primary instead: the replica may not
have replayed her change yet, and her next page must show it. Other readers may see a result a
moment behind the primary (the replica's lag, usually well under a second).

The data version is read on the same database as the results (insights.cache): a result computed
on a replica that lags is stored under the version the replica had, never under a newer one.
Without DATABASE_REPLICA_URL there is one database and none of this costs a query.
"""

import contextvars

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

_request = contextvars.ContextVar("hospital_replica_request", default=None)


def insights_database():
    """The alias the insights read from now: the replica if there is one, unless this request's user
    wrote lately (read your own writes)."""
    if REPLICA not in settings.DATABASES:
        return DEFAULT_DB_ALIAS
    request = _request.get()
    if request is not None and _wrote_lately(request):
        return DEFAULT_DB_ALIAS
    return REPLICA


def wrote_lately(request):
    """True when this request's user wrote within READ_YOUR_WRITES_SECONDS (tracked only with a
    replica): her insight pages are then exact (insights.views), read from the primary."""
    return REPLICA in settings.DATABASES and _wrote_lately(request)


def _key(user):
    return f"replica:wrote:{user.pk}"


def _wrote_lately(request):
    # The user of a token is known once the API view has authenticated her: asked then, not before.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    if not hasattr(request, "_wrote_lately"):
        request._wrote_lately = cache.get(_key(user)) is not None
    return request._wrote_lately


class ReplicaRouter:
    """The insights' own tables are read where insights_database() says; all else is read and
    written on the primary; migrations run on the primary alone (the replica copies them)."""

    def db_for_read(self, model, **hints):
        return insights_database() if model._meta.app_label == "insights" else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one set of tables, wherever it is read

    def allow_migrate(self, db, app_label, **hints):
        return db == DEFAULT_DB_ALIAS


class ReadYourWritesMiddleware:
    """Lets insights_database() see the request, and notes a user's successful write (any request
    that is not a read) for READ_YOUR_WRITES_SECONDS, when there is a replica."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if (
            REPLICA in settings.DATABASES
            and request.method not in SAFE_METHODS
            and response.status_code < 400
            and getattr(request, "user", None) is not None
            and request.user.is_authenticated
        ):
            cache.set(_key(request.user), True, settings.READ_YOUR_WRITES_SECONDS)
        return response
