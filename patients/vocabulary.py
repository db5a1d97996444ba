"""
What people type for a coded value, and what it means: the one place the workbook import, the
single-sheet import, the staff forms and the API read to turn "Emergency LSCS" into `c_section`.
A district is found by District.objects.named() (its name in any case, or a saved alias); this
module suggests the nearest known ones for a name it does not find.

A typed value is found, in this order, by
1. the column's own codes and the labels the app shows for them ("Normal vaginal"), in any case;
2. the spellings registers use (DELIVERY_TYPE_SPELLINGS, DELIVERY_TERM_SPELLINGS), compared after
   spelling_key's tidying: letters only, "delivery"/"birth" and "elective"/"emergency" dropped;
3. the aliases data managers saved when they mapped a value in an import preview (ValueAlias).

Nothing else is guessed: a value none of these know is an error that names the nearest known
values (`suggestions`, by rapidfuzz's similarity), so a person can map it.
"""

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from patients.models import (
    CODED_CHOICES,
    DeliveryTerm,
    DeliveryType,
    District,
    ValueAlias,
    district_key,
    normalise_district_name,
)

# --- Spellings ---------------------------------------------------------------------------------
# As registers write them. The codes and the app's labels need no entry: they are always accepted.
DELIVERY_TYPE_SPELLINGS = {
    DeliveryType.NORMAL: (
        "nvd", "svd", "vaginal", "normal vaginal delivery", "spontaneous vaginal delivery", "spontaneous",
        "spontaneous vaginal", "normal delivery", "vaginal delivery", "normal labour",
    ),
    DeliveryType.ASSISTED: (
        "vacuum", "ventouse", "forceps", "instrumental", "assisted vaginal delivery", "avd", "vacuum extraction",
        "vacuum assisted", "forceps assisted", "operative vaginal delivery", "instrumental vaginal delivery",
        "vacuum forceps", "vacuum/forceps",
    ),
    DeliveryType.C_SECTION: (
        "c-section", "c section", "csection", "c/s", "cs", "lscs", "luscs", "caesarean", "cesarean", "caesarian",
        "cesarian", "ceasarean", "ceasarian", "caeserean", "cesearean", "caesarean section", "cesarean section",
        "lower segment caesarean section", "lower segment cesarean section", "lower uterine segment caesarean section",
        "abdominal delivery",
    ),
}  # fmt: skip
DELIVERY_TERM_SPELLINGS = {
    DeliveryTerm.TERM: ("full term", "fullterm", "at term", "normal term"),
    DeliveryTerm.PRETERM: ("pre-term", "pre term", "premature", "prem", "preterm labour"),
    DeliveryTerm.POST_TERM: (
        "post-term", "post term", "postterm", "postdate", "postdates", "post date", "post dates", "post-dated",
        "postdated", "post dated", "overdue", "postmature", "post-mature", "prolonged pregnancy",
    ),
}  # fmt: skip

# Words that say nothing about the mode or the term: "LSCS delivery" is "LSCS", "Emergency
# caesarean" a caesarean (the register's urgency is not recorded), "Preterm birth" preterm.
_FILLER_WORDS = {"delivery", "delivered", "deliv", "del", "birth", "labour", "labor", "by", "via", "done", "of"}
_URGENCY_WORDS = {"elective", "emergency", "elect", "emerg", "em", "el", "planned", "urgent", "repeat", "elec"}
_WORDS = re.compile(r"[a-z]+")


def spelling_key(text):
    """What a typed value is compared by: its words in lower case, letters only, filler dropped.

    "Emergency LSCS delivery" and "lscs" have the same key; so have "Normal vaginal" and "NORMAL-VAGINAL".
    """
    words = _WORDS.findall(str(text).lower())
    meaningful = [w for w in words if w not in _FILLER_WORDS and w not in _URGENCY_WORDS]
    return "".join(meaningful or words)


@dataclass(frozen=True)
class Suggestion:
    value: str  # a code, or a district's name
    label: str  # what a person reads
    score: float  # 0-100, rapidfuzz's similarity


# --- Coded columns -----------------------------------------------------------------------------


class CodedColumn:
    """A column whose values are codes (delivery type, term): every spelling that names each code."""

    def __init__(self, column, choices, spellings):
        self.column = column
        self.choices = choices
        self.spellings = {}  # key -> code
        for code, label in choices.choices:
            for typed in (code, label, *spellings.get(code, ())):
                key = spelling_key(typed)
                if self.spellings.setdefault(key, code) != code:
                    raise ValueError(f"{typed!r} names both {self.spellings[key]} and {code}")

    @property
    def verbose_name(self):
        return ValueAlias.Column(self.column).label.lower()

    def known(self, text):
        """The code the app's own words give `text`, or None (saved aliases not consulted)."""
        return self.spellings.get(spelling_key(text))

    def code(self, text, aliases=None):
        """The code for a typed value, or None. `aliases` (key -> code) saves a query per value when
        many are read: `saved_aliases()` loads them once."""
        key = spelling_key(text)
        found = self.spellings.get(key)
        if found is None:
            if aliases is None:
                aliases = dict(ValueAlias.objects.filter(column=self.column, key=key).values_list("key", "code"))
            found = aliases.get(key)
        return found

    def saved_aliases(self):
        return dict(ValueAlias.objects.filter(column=self.column).values_list("key", "code"))

    def label(self, code):
        return self.choices(code).label

    def suggestions(self, text, limit=3):
        """The known values nearest to `text`, best first, each code once."""
        by_code = {}
        candidates = list(self.spellings)
        for key, score, _ in process.extract(spelling_key(text), candidates, scorer=fuzz.WRatio, limit=None):
            code = self.spellings[key]
            if score >= SUGGEST_SCORE and code not in by_code:
                by_code[code] = Suggestion(code, self.label(code), round(score, 1))
        return list(by_code.values())[:limit]

    def accepted(self):
        """The codes with their labels, for an error message."""
        return "; ".join(f"{label} ({code})" for code, label in self.choices.choices)


DELIVERY_TYPES = CodedColumn(ValueAlias.Column.DELIVERY_TYPE, CODED_CHOICES[ValueAlias.Column.DELIVERY_TYPE],
                             DELIVERY_TYPE_SPELLINGS)  # fmt: skip
DELIVERY_TERMS = CodedColumn(ValueAlias.Column.TERM, CODED_CHOICES[ValueAlias.Column.TERM], DELIVERY_TERM_SPELLINGS)
CODED_COLUMNS = {c.column: c for c in (DELIVERY_TYPES, DELIVERY_TERMS)}

# Suggestions below this similarity are noise; a new district this close to a known one may be a
# typo of it, and needs a person's decision (map it, or confirm it as new) before it is imported.
SUGGEST_SCORE = 60
NEAR_DISTRICT_SCORE = 85


# --- Districts ---------------------------------------------------------------------------------


def district_aliases():
    """key -> District, every saved district alias (for an import, read once)."""
    aliases = ValueAlias.objects.filter(column=ValueAlias.Column.DISTRICT).select_related("district")
    return {alias.key: alias.district for alias in aliases}


def district_suggestions(text, names, limit=3):
    """The names among `names` nearest to a typed district name, best first."""
    found = process.extract(
        normalise_district_name(text), list(names), scorer=fuzz.ratio, processor=utils.default_process, limit=limit
    )
    return [Suggestion(name, name, round(score, 1)) for name, score, _ in found if score >= SUGGEST_SCORE]


def unknown_district_message(text):
    """Why a typed district is refused, naming the nearest known ones."""
    nearest = district_suggestions(text, District.objects.values_list("name", flat=True))
    hint = f" Did you mean {_either(s.label for s in nearest)}?" if nearest else ""
    return (
        f"Unknown district '{normalise_district_name(text)}'.{hint} New districts are added by an administrator "
        "or through a workbook import."
    )


def display_spelling(spellings):
    """A new district's name from the spellings a file uses for it: the most common one (the first
    seen among equals), in title case: "kailali" x3 and "KAILALI" x1 give "Kailali"."""
    most_common = max(spellings.items(), key=lambda item: item[1])[0]
    return normalise_district_name(most_common).title()


def _either(names):
    names = [f"'{n}'" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def alias_key(column, spelling):
    """The key a saved alias is found by: as its column compares values."""
    return district_key(spelling) if column == ValueAlias.Column.DISTRICT else spelling_key(spelling)
