"""Insight results, cached and kept at most INSIGHTS_MAX_AGE_SECONDS behind the records.

Every result is stored with the *data version* it was computed under (a random token in
insights.DataVersion that every announced write replaces in its own transaction) and the time its
computation started. A page reading a result:
- computed under the current version: serves it, exact;
- computed under an older version less than INSIGHTS_MAX_AGE_SECONDS ago: serves it and says how
  old it is ("as of 12 s ago"), and asks the background worker (`manage.py db_worker`) to compute it
  again; one request asks, at most once every refresh_every() seconds per page, while the others
  go on serving the previous result. Under a steady trickle of writes a page thus reads a stored
  result instead of rescanning a million rows on every view;
- otherwise (none stored, too old, the worker not keeping up, INSIGHTS_MAX_AGE_SECONDS = 0, or the
  reader asked for the current figures): computes it in the request and stores it.

The version lives beside the records, so it commits (or rolls back) with them: a reader sees the
new token exactly when it sees the new records, on the primary as on a replica that has replayed
both. A reader computes after reading the token, so a result is never older than its token.

The cache is the database cache table (settings.CACHES), so every gunicorn worker and the
background worker see the same results with no extra server.
"""

import contextlib
import datetime
import hashlib
import logging
import math
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_tasks import task

from insights import queries
from insights.models import DataVersion
from insights.sql import reading
from patients.models import District

VERSION_TABLE = DataVersion._meta.db_table
logger = logging.getLogger(__name__)


def new_version():
    """Give the records a new data version, in the current transaction. One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VERSION_TABLE} (id, token) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET token = excluded.token",
            [uuid.uuid4().hex],
        )


def current_version():
    """The records' data version. Without one (its row not written yet, or flushed), a token of no
    stored result: nothing is served from the cache until a write gives one."""
    with reading().cursor() as cursor:  # where the results are computed (hospital.replica)
        cursor.execute(f"SELECT token FROM {VERSION_TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else uuid.uuid4().hex


def refresh_every():
    """How often, at most, a page's results are computed again in the background while the records
    keep changing: half the age they may reach, so that a worker a little behind still refreshes
    them before a page has to compute them itself."""
    return max(1, settings.INSIGHTS_MAX_AGE_SECONDS // 2)


class Results:
    """The insight results one page reads: call it with (query function, keyword arguments) pairs
    for their results. `as_of` is how many seconds ago the oldest result served behind the records
    was computed ("as of 12 s ago"), or None when every result is exact. `exact` computes whatever
    is behind."""

    def __init__(self, exact=False):
        self.exact = exact
        self._oldest = None  # a time.time()

    @property
    def as_of(self):
        return None if self._oldest is None else math.ceil(time.time() - self._oldest)

    def __call__(self, *calls):
        """Each call's result. Two reads for any number of calls; per result computed, one write;
        for the results served behind the records, a few more to ask for their refresh (none while
        another request's is pending)."""
        version, now = current_version(), time.time()
        max_age = 0 if self.exact else settings.INSIGHTS_MAX_AGE_SECONDS
        keys = [_key(query, filters) for query, filters in calls]
        marker = "insights:refresh:" + hashlib.sha256(" ".join(keys).encode()).hexdigest()
        found = cache.get_many([*keys, marker])
        results, behind = [], []
        for key, (query, filters) in zip(keys, calls, strict=True):
            stored_version, computed_at, result = found.get(key, (None, 0, None))
            if stored_version != version:
                if now - computed_at < max_age:
                    self._oldest = min(self._oldest or now, computed_at)
                    behind.append((key, query, filters))
                else:
                    result = _compute(key, query, filters, version)
            results.append(result)
        if behind and marker not in found:
            _ask_for_refresh(marker, behind)
        return results


def _compute(key, query, filters, version, keep_newer=False):
    """`query`'s result now, stored under `version` (read before computing: never newer); with
    `keep_newer`, not over a result whose computation started after this one's."""
    started = time.time()
    result = query(**filters)
    if not keep_newer or cache.get(key, (None, 0, None))[1] < started:
        cache.set(key, (version, started, result), settings.INSIGHTS_CACHE_SECONDS)
    return result


def _ask_for_refresh(marker, behind):
    """Ask the background worker to compute these (key, query, filters) again. cache.add stores
    the marker only where none is: of the requests that find them behind, the first asks, and no
    one asks again for refresh_every() seconds."""
    if not cache.add(marker, True, refresh_every()):
        return
    try:
        refresh_results.enqueue([[query.__name__, _portable(filters)] for _, query, filters in behind])
    except Exception:  # the page is served all the same; once past the max age, it computes itself
        logger.exception("Could not ask the background worker to refresh insight results")


# Behind the imports (priority 0) in the worker's queue: a refresh can wait, an upload should not.
@task(priority=-10)
def refresh_results(calls):
    """The background worker's part: compute each [query name, filters] again, unless it is exact
    already (another request or task got there first). A result computed meanwhile by a request
    (asked for the current figures, or computed on the primary while this runs on a replica that
    lags) is newer: it is kept."""
    version = current_version()
    with _one_core():
        for query_name, portable in calls:
            query, filters = getattr(queries, query_name, None), _from_portable(portable)
            if query is None or filters is None:
                # Asked for by an earlier release (an analysis since renamed), or for a district
                # that is gone: no page asks for this result any more.
                continue
            key = _key(query, filters)
            if cache.get(key, (None,))[0] != version:
                _compute(key, query, filters, version, keep_newer=True)


@contextlib.contextmanager
def _one_core():
    """PostgreSQL computes the worker's refreshes without parallel workers: a refresh can wait,
    the pages being served meanwhile cannot (a parallel scan of a million follow-ups took every
    core for a second, and every page's p95 with it)."""
    if reading().vendor != "postgresql":
        yield
        return
    with reading().cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        with reading().cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


def _portable(filters):
    """Filters as a task's JSON arguments: a district by its pk, a date in ISO form."""
    portable = dict(filters)
    for name, value in filters.items():
        if name == "district":
            portable[name] = getattr(value, "pk", None)
        elif name.startswith("date_") and value:
            portable[name] = value.isoformat()
    return portable


def _from_portable(filters):
    filters = {name: datetime.date.fromisoformat(value) if name.startswith("date_") and value else value
               for name, value in filters.items()}  # fmt: skip
    if filters.get("district") is not None:
        filters["district"] = District.objects.filter(pk=filters["district"]).first()
        if filters["district"] is None:
            return None
    return filters


def _key(query, arguments):
    values = {name: _key_part(value) for name, value in sorted(arguments.items())}
    return f"insights:{query.__name__}:" + ":".join(f"{name}={value}" for name, value in values.items())


def _key_part(value):
    """A filter's value in a cache key: a District by its pk, a list by its items."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return getattr(value, "pk", value)
