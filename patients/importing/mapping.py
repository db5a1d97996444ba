"""Mapping: what a person said an import's unknown values mean.

A value no known spelling or saved alias names (plans.Unmatched) stays an error until someone maps
it: in the admin's preview (saved at once as a ValueAlias) or with the command's `--map` (saved
when the import lands). A new district close to a known one (perhaps a typo of it) may instead be
confirmed as a new district; that holds for this import only.
"""

from dataclasses import dataclass, field

from django.db import transaction

from patients import vocabulary
from patients.models import District, ValueAlias

# The value that confirms a new district instead of mapping it to a known one.
NEW_DISTRICT = "new"
COLUMN_NAMES = {
    "delivery type": ValueAlias.Column.DELIVERY_TYPE,
    "type": ValueAlias.Column.DELIVERY_TYPE,
    "term": ValueAlias.Column.TERM,
    "district": ValueAlias.Column.DISTRICT,
}


class MappingError(ValueError):
    """A mapping that cannot be applied: an unknown target, or a column that cannot be told."""


@dataclass
class Mappings:
    """This import's own mappings, not (yet) saved: (column, key) -> (spelling, code or District or
    NEW_DISTRICT)."""

    values: dict = field(default_factory=dict)

    def add(self, column, spelling, meaning):
        self.values[(column, vocabulary.alias_key(column, spelling))] = (spelling, meaning)

    def codes(self):
        """{column: {key: code}} for the coded columns' parsers."""
        coded = {}
        for (column, key), (_, meaning) in self.values.items():
            if column in vocabulary.CODED_COLUMNS:
                coded.setdefault(column, {})[key] = meaning
        return coded

    def district(self, key):
        """A District, NEW_DISTRICT, or None."""
        return self.values.get((ValueAlias.Column.DISTRICT, key), (None, None))[1]

    def to_save(self):
        """(column, spelling, meaning) of each mapping to a known value: the aliases it makes."""
        saved = [(column, *mapped) for (column, _), mapped in self.values.items()]
        return [(column, spelling, meaning) for column, spelling, meaning in saved if meaning != NEW_DISTRICT]


def parse_map_option(text):
    """`--map "Normal vag=normal"` -> (column, spelling, meaning).

    The meaning is a code, a label or any known spelling of a delivery type or term, a district's
    name, or "new" for a new district; its column is the one it names. Where it names values of two
    columns, say which: "term: FT=term", "district: Kaskii=Kaski".
    """
    column = None
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in COLUMN_NAMES:
        column, text = COLUMN_NAMES[head.strip().lower()], rest
    spelling, sep, target = (part.strip() for part in text.rpartition("="))
    if not sep or not spelling or not target:
        raise MappingError(f"--map '{text}': write it as SPELLING=VALUE, e.g. --map 'Normal vag=normal'.")
    meanings = {}
    for name, coded in vocabulary.CODED_COLUMNS.items():
        code = coded.code(target)
        if code is not None:
            meanings[name] = code
    if target.lower() == NEW_DISTRICT:
        meanings[ValueAlias.Column.DISTRICT] = NEW_DISTRICT
    elif (district := District.objects.named(target)) is not None:
        meanings[ValueAlias.Column.DISTRICT] = district
    if column is not None:
        meanings = {column: meanings[column]} if column in meanings else {}
    if not meanings:
        raise MappingError(f"--map '{text}': '{target}' is no known delivery type, term or district.")
    if len(meanings) > 1:
        raise MappingError(
            f"--map '{text}': '{target}' names a value of more than one column; "
            f"write e.g. --map 'term: {spelling}={target}'."
        )
    [(column, meaning)] = meanings.items()
    return column, spelling, meaning


def save_alias(column, spelling, meaning, user):
    """Save one mapping as an alias, checked as the admin checks it (ValidationError if not)."""
    alias = ValueAlias(column=column, spelling=spelling, created_by=user)
    if column == ValueAlias.Column.DISTRICT:
        alias.district = meaning
    else:
        alias.code = meaning
    alias.full_clean()
    with transaction.atomic():
        alias.save()
    return alias
