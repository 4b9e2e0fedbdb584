"""roster.csv -> partnerships, with every bad row reported by line number."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import Problem, has_errors, problem
from .files import valid_label

COLUMNS = ("id", "name", "region", "sector", "contact_name", "contact_email")
REQUIRED = ("id", "name")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_LENGTH = 200


@dataclass(frozen=True)
class Partnership:
    id: str
    name: str
    region: str = ""
    sector: str = ""
    contact_name: str = ""
    contact_email: str = ""


@dataclass(frozen=True)
class RosterResult:
    partnerships: tuple[Partnership, ...]
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not has_errors(self.problems)


def load_roster(path: str | Path) -> RosterResult:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return RosterResult((), (problem("MG-ROSTER-001", path.name, reason=exc.strerror or str(exc)),))
    return parse_roster(data, path.name)


def parse_roster(data: bytes, name: str = "roster.csv") -> RosterResult:
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError:
        return RosterResult((), (problem("MG-ROSTER-008", name),))
    rows = list(_rows(csv.reader(io.StringIO(text, newline=""))))
    problems: list[Problem] = []
    if not rows:
        return RosterResult((), (problem("MG-ROSTER-009", name),))
    header = [h.strip().lower() for h in rows[0][1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(problem("MG-ROSTER-002", f"{name} line 1", columns=", ".join(COLUMNS), missing=", ".join(missing)))
        return RosterResult((), tuple(problems))
    for column in header:
        if column not in COLUMNS:
            problems.append(problem("MG-ROSTER-010", f"{name} line 1", column=column, columns=", ".join(COLUMNS)))

    partnerships: list[Partnership] = []
    first_line: dict[str, int] = {}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, as spreadsheets leave at the end
        where = f"{name} line {line}"
        if len(row) != len(header):
            problems.append(problem("MG-ROSTER-007", where, found=len(row), expected=len(header)))
            continue
        record = {col: cell.strip() for col, cell in zip(header, row) if col in COLUMNS}
        row_ok = True
        for column in COLUMNS:
            value = record.get(column, "")
            if CONTROL_RE.search(value):
                problems.append(problem("MG-ROSTER-006", where, column=column))
                row_ok = False
            elif len(value) > MAX_LENGTH:
                problems.append(problem("MG-ROSTER-012", where, column=column, length=len(value), limit=MAX_LENGTH))
                row_ok = False
        for column in REQUIRED:
            if not record.get(column):
                problems.append(problem("MG-ROSTER-003", where, column=column))
                row_ok = False
        pid = record.get("id", "")
        if pid and not valid_label(pid):
            problems.append(problem("MG-ROSTER-005", where, value=pid))
            row_ok = False
        elif pid in first_line:
            problems.append(problem("MG-ROSTER-004", where, value=pid, first=first_line[pid]))
            row_ok = False
        elif pid:
            first_line[pid] = line
        email = record.get("contact_email", "")
        if email and not EMAIL_RE.match(email):
            problems.append(problem("MG-ROSTER-011", where, value=email))
            row_ok = False
        if row_ok:
            partnerships.append(Partnership(**{c: record.get(c, "") for c in COLUMNS}))
    if not partnerships and not has_errors(problems):
        problems.append(problem("MG-ROSTER-009", name))
    return RosterResult(tuple(partnerships), tuple(problems))


def _rows(reader) -> Iterator[tuple[int, list[str]]]:
    """(the line a row starts on, the row) for each row of ``reader``.

    Not a count of rows: a quoted value may span lines, and would shift every later line number."""
    ended = 0  # the line the previous row ended on
    for row in reader:
        yield ended + 1, row
        ended = reader.line_num


def write_roster(partnerships: list[Partnership] | tuple[Partnership, ...], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for p in partnerships:
            writer.writerow([getattr(p, c) for c in COLUMNS])
