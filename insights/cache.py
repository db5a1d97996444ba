"""Insight results cached until the records change.

Every result is stored under the current *data version*, a random token in insights.DataVersion
that every announced write (patients.writes) replaces in its own transaction. A page view after a
write therefore computes afresh; until then the same filters are served from the cache.

The version lives beside the records, so it commits (or rolls back) with them: a reader sees the
new token exactly when it sees the new records, on the primary as on a replica that has replayed
both. A reader computes after reading the token, so a result is never older than its token.

The cache is the database cache table (settings.CACHES), so every gunicorn worker sees the same
results with no extra server.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from insights.models import DataVersion
from insights.sql import reading

VERSION_TABLE = DataVersion._meta.db_table


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


def _key(version, query, arguments):
    values = {name: _key_part(value) for name, value in sorted(arguments.items())}
    return f"insights:{version}:{query.__name__}:" + ":".join(f"{name}={value}" for name, value in values.items())


def cached(*calls):
    """Each (query function, keyword arguments) call's result, from the cache when the records have not
    changed since it was stored. Two reads for any number of calls, and one write per miss."""
    version = current_version()
    keys = [_key(version, query, filters) for query, filters in calls]
    found = cache.get_many(keys)
    results = []
    for key, (query, filters) in zip(keys, calls, strict=True):
        if key not in found:
            found[key] = query(**filters)
            cache.set(key, found[key], settings.INSIGHTS_CACHE_SECONDS)
        results.append(found[key])
    return results


def _key_part(value):
    """A filter's value in a cache key: a District by its pk, a list by its items."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return getattr(value, "pk", value)
