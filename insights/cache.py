"""Insight results cached until the records change.

Every result is stored under the current *data version*, a random token that changes whenever a
patient, delivery, follow-up or district is written: by a model save or delete (post_save,
post_delete) or by a bulk path (patients.signals.records_changed: imports, demo data). A page view
after any write therefore computes afresh; until then the same filters are served from the cache.

The cache is the database cache table (settings.CACHES), so every gunicorn worker sees the same
versions with no extra server. The version changes at once and again when the transaction
commits: a view that read between the two cannot leave its stale result under the new version.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "insights:data-version"


def data_changed(**kwargs):
    """Receiver for every write to the records: start a new data version, now and at commit."""
    _new_version()
    transaction.on_commit(_new_version)


def _new_version():
    version = uuid.uuid4().hex
    cache.set(VERSION_KEY, version, None)
    return version


def _key(version, query, arguments):
    values = {name: _key_part(value) for name, value in sorted(arguments.items())}
    return f"insights:{version}:{query.__name__}:" + ":".join(f"{name}={value}" for name, value in values.items())


def cached(*calls):
    """Each (query function, keyword arguments) call's result, from the cache when the records have not
    changed since it was stored. Two cache reads for any number of calls, and one write per miss."""
    version = cache.get(VERSION_KEY) or _new_version()
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
