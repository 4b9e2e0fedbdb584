"""Tables on the terminal, and the same rows as JSON for other programs.

One formatter for every command that prints a table (``scores``, ``status``): columns as wide as
their widest value, two spaces apart, and, when that is wider than the terminal, the widest of the
columns marked ``shrink`` (names, file names) cut with "…" until the table fits. Identifiers, dates
and statuses are never cut. Written here rather than taken from a library: the libraries that do
this (rich, tabulate with maxcolwidths) wrap cells onto several lines or bring far more than this
small module, and one line a row is what staff grep and sort.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import unicodedata
from typing import Iterable, Mapping, Sequence

GAP = "  "
ELLIPSIS = "…"
MIN_SHRUNK = 10  # a cut column keeps at least this much (or its title, if longer)


def terminal_width() -> int | None:
    """The columns a table must fit: the terminal's, or COLUMNS'; None when the output goes to a
    file or a pipe (nothing is cut there: ``--json`` and ``--csv`` are for other programs)."""
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (East Asian) characters two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, ending with "…" when it had to be cut."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for c in text:
        w = display_width(c)
        if used + w > width - 1:
            break
        kept.append(c)
        used += w
    return "".join(kept) + ELLIPSIS


def fit_widths(natural: Sequence[int], minimum: Sequence[int], shrink: Sequence[bool], room: int) -> list[int]:
    """Column widths that fit ``room`` (gaps included), taking from the widest shrinkable column first."""
    widths = list(natural)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - room
    while excess > 0:
        able = [i for i, w in enumerate(widths) if shrink[i] and w > minimum[i]]
        if not able:
            break  # as narrow as it may go: the lines are longer than the terminal
        widest = max(able, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def render(titles: Sequence[str], rows: Iterable[Sequence[str]], *, shrink: Iterable[str] = (),
           width: int | None = None) -> list[str]:
    """The table's lines: a header, then one line per row. ``shrink`` names the columns that may
    be cut to fit ``width`` (None: nothing is cut)."""
    table = [list(titles), *([str(v) for v in row] for row in rows)]
    natural = [max(display_width(row[i]) for row in table) for i in range(len(titles))]
    cuttable = set(shrink)
    flags = [t in cuttable for t in titles]
    minimum = [min(n, max(display_width(t), MIN_SHRUNK)) for n, t in zip(natural, titles)]
    widths = natural if width is None else fit_widths(natural, minimum, flags, width)
    lines = []
    for row in table:
        cells = [cut(v, w) for v, w in zip(row, widths)]
        lines.append(GAP.join(c + " " * (w - display_width(c)) for c, w in zip(cells, widths)).rstrip())
    return lines


def as_json(rows: Iterable[Mapping[str, object]]) -> str:
    """A list of objects, one per row, keys as given: what ``--json`` prints."""
    return json.dumps(list(rows), ensure_ascii=False, indent=2)
