"""Signals the records app sends.

`records_changed` says that patients, deliveries or follow-ups were written by a path that sends no
model signals (multi-row INSERTs, bulk updates, whole-table deletes). Saves and deletes of single
records send Django's own post_save/post_delete; listeners (the insights cache) hear both.
"""

from django.dispatch import Signal

records_changed = Signal()
