"""Signals the records app sends.

`records_changed` says that patients, deliveries or follow-ups were written by a path that sends no
model signals (multi-row INSERTs, bulk updates, whole-table deletes). Its `patient_pks` names the
patients whose records were written (primary keys), or is None when that is not known: then
listeners must assume any. Send it once per bulk write, inside its transaction. Saves and deletes
of single records send Django's own post_save/post_delete; listeners (the insights' stored facts
and cache) hear both.
"""

from django.dispatch import Signal

records_changed = Signal()  # keyword argument: patient_pks (an iterable of primary keys, or None)
