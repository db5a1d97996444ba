"""
Free text as people type it: the one rule for the characters a record may not hold.

Exports are XML (an xlsx workbook is zipped XML), and XML 1.0 cannot hold the C0 control
characters other than tab, line feed and carriage return, nor lone surrogates, nor U+FFFE and
U+FFFF; DEL is refused with them, as nobody means it. Typed into a form, the admin or the API,
such text is refused by the models' field validator, naming the character and where it is (it is
invisible); the workbook import drops them, as text pasted from other systems carries them unmeant.
"""

import re

from django.core.exceptions import ValidationError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def validate_no_control_characters(text):
    """Refuse text holding a character that exports cannot write: every free-text field's validator."""
    found = CONTROL_CHARACTERS.search(text)
    if found is not None:
        raise ValidationError(
            "The text contains an invisible control character %(character)s at position %(position)d; remove it.",
            code="control_character",
            params={"character": f"U+{ord(found.group()):04X}", "position": found.start() + 1},
        )


def strip_control_characters(text):
    """`text` without the characters exports cannot write."""
    return CONTROL_CHARACTERS.sub("", text)
