"""WeasyPrint's user-agent stylesheet without the pseudo-elements reports never use.

WeasyPrint's HTML stylesheet gives *every* element six pseudo-elements: ``::marker`` and the
footnote and note ones (``::footnote-call``, ``::footnote-marker``, ``::note-call``,
``::note-marker``, ``::note-callback``). Each gets a computed style per element, and the box
builder looks them up: about 2,000 computed styles a report for the 330 elements it has, about 5%
of a report's CPU (measured with valgrind's instruction count). Reports use no footnotes or notes,
and only ``<li>`` elements are list items, so ``LeanHTML`` cascades WeasyPrint's own stylesheet
with ``::marker`` scoped to ``li`` and the footnote and note rules left out. The PDF is the same.

``LeanUA`` overrides ``HTML._ua_stylesheets``, a private method (WeasyPrint 68-70). If a
WeasyPrint release renames it or changes those rules, ``lean_ua_sheet`` gives None and WeasyPrint's
own stylesheet is used: reports stay right and only lose the speed-up (``tests/test_report.py``
says which).
"""

from __future__ import annotations

import functools
import re

MARKER = "\n::marker {"
NOTES = re.compile(r"^::(?:footnote|note)-(?:call|marker|callback) \{[^}\n]*\}$", re.M)
NOTE_RULES = 5


def lean_ua_text(ua: str) -> str | None:
    """WeasyPrint's UA stylesheet text with ``::marker`` on ``li`` only and no footnote or note
    rules, or None if it does not hold those rules as expected."""
    if ua.count(MARKER) != 1 or len(NOTES.findall(ua)) != NOTE_RULES:
        return None
    return NOTES.sub("", ua.replace(MARKER, "\nli::marker {"))


@functools.cache
def lean_ua_sheet():
    """The lean UA stylesheet, parsed once per process; None where it cannot be made safely."""
    from weasyprint import CSS, HTML

    try:
        from weasyprint.css.counters import CounterStyle
        from weasyprint.html import UA
    except ImportError:
        return None
    text = lean_ua_text(UA)
    if text is None or not callable(getattr(HTML, "_ua_stylesheets", None)):
        return None
    # The stylesheet's @counter-style rules are WeasyPrint's own, already in its UA counter styles
    # (``HTML._ua_counter_style``): parsed into a throwaway, they change nothing.
    return CSS(string=text, counter_style=CounterStyle())


class LeanUA:
    """Mixin for a ``weasyprint.HTML`` subclass: cascade the lean UA stylesheet where it could be
    made, else WeasyPrint's own."""

    def _ua_stylesheets(self, forms=False):
        sheet = lean_ua_sheet()
        if sheet is None:
            return super()._ua_stylesheets(forms)
        from weasyprint.html import UA_FORM_STYLESHEET

        return [sheet, UA_FORM_STYLESHEET] if forms else [sheet]
