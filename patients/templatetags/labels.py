"""{{ code|words:"reason" }}: a code in words (patients.labels), for templates."""

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from patients import labels

register = template.Library()


@register.filter
def words(code, kind):
    """The words for one code, or for each of a list of codes joined by commas."""
    if isinstance(code, list | tuple):
        return ", ".join(labels.words(item, kind) for item in code)
    return labels.words(code, kind)


@register.filter
def breakable(name):
    """A column name as the workbook spells it (age_at_first_pregnancy), free to wrap after each
    underscore so a wide preview table fits the page."""
    return mark_safe("_<wbr>".join(escape(part) for part in str(name).split("_")))


@register.filter
def percent(numerator, denominator):
    """ "12.5% (5 of 40)": a rate as people read it, with its counts; "—" without a denominator."""
    return labels.percent(numerator, denominator)


@register.filter
def percentage(numerator, denominator):
    """ "12.5%": the rate alone, where its counts are written beside it; "—" without a denominator."""
    return labels.percentage(numerator, denominator)
