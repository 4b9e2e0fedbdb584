"""The one error catalogue.

Every problem matrixgen reports has a stable code, a severity, a location the user can find
(``Assessment!E12``, ``rubric.toml: dimensions[2].criteria[0].stage``, ``roster.csv line 7``)
and a message shaped *what is wrong -> how to fix it*. Tests assert on codes and locations,
so message wording can improve without breaking them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True)
class Entry:
    code: str
    severity: Severity
    template: str


@dataclass(frozen=True)
class Problem:
    code: str
    severity: Severity
    location: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "location": self.location,
            "message": self.message,
        }


CATALOGUE: dict[str, Entry] = {}


def _define(code: str, severity: Severity, template: str) -> None:
    if code in CATALOGUE:  # pragma: no cover - guards the table below
        raise ValueError(f"duplicate error code {code}")
    CATALOGUE[code] = Entry(code, severity, template)


def problem(code: str, location: str = "", **fields: object) -> Problem:
    """Build a located problem from its catalogue entry."""
    entry = CATALOGUE[code]
    return Problem(code, entry.severity, location, entry.template.format(**fields))


def has_errors(problems: list[Problem] | tuple[Problem, ...]) -> bool:
    return any(p.is_error for p in problems)


E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE

# --- rubric.toml -------------------------------------------------------------------------------
_define("MG-RUBRIC-001", E, "cannot read the rubric: {reason}; check the path")
_define("MG-RUBRIC-002", E, "not valid TOML: {reason}; fix the syntax at this line and column")
_define("MG-RUBRIC-003", E, "'{key}' is missing; add it")
_define("MG-RUBRIC-004", E, "{value!r} is not a stage; stages are {stages}")
_define("MG-RUBRIC-005", E, "duplicate id {value!r} (first at {first}); give each one its own id")
_define("MG-RUBRIC-006", E, "the text is empty; write the criterion as it reads in the matrix")
_define("MG-RUBRIC-007", E, "no stages are defined; add [[stages]] tables, lowest stage first")
_define("MG-RUBRIC-008", W, "unknown key '{key}' is ignored; check its spelling (known keys: {known})")
_define("MG-RUBRIC-009", E, "expected {expected}, found {found}; correct the value")
_define("MG-RUBRIC-010", E, "no responses are defined; add [[responses]] tables (e.g. Met, In progress, Not yet)")
_define("MG-RUBRIC-011", E, "no response is marked met = true; mark the answer that counts as met")
_define("MG-RUBRIC-012", E, "no dimensions are defined; add [[dimensions]] with their criteria")
_define("MG-RUBRIC-013", W, "dimension '{dimension}' has no criteria; add some or remove it")
_define("MG-RUBRIC-014", E, "{value!r} is not a valid id; use letters, digits, '.', '_' and '-' (at most 40)")
_define("MG-RUBRIC-015", E, "unknown scoring method {value!r}; use \"staged\"")
_define("MG-RUBRIC-016", E, "the answer '{value}' is used by two responses; each label and alias may appear once")

# --- roster.csv --------------------------------------------------------------------------------
_define("MG-ROSTER-001", E, "cannot read the roster: {reason}; check the path")
_define("MG-ROSTER-002", E, "the header must name the columns {columns}; missing: {missing}")
_define("MG-ROSTER-003", E, "'{column}' is empty; every partnership needs an id and a name")
_define("MG-ROSTER-004", E, "duplicate id {value!r} (first on line {first}); ids must be unique")
_define("MG-ROSTER-005", E, "id {value!r} is not valid; use letters, digits, '.', '_' and '-' (at most 40), starting with a letter or digit")
_define("MG-ROSTER-006", E, "'{column}' contains control characters; retype the value")
_define("MG-ROSTER-007", E, "this row has {found} values but the header has {expected}; check for a stray comma or a missing quote")
_define("MG-ROSTER-008", E, "the roster is not UTF-8 text; in Excel use Save As > CSV UTF-8")
_define("MG-ROSTER-009", E, "the roster has no partnerships; add one row per partnership under the header")
_define("MG-ROSTER-010", W, "unknown column '{column}' is ignored; known columns are {columns}")
_define("MG-ROSTER-011", E, "'{value}' is not an email address; correct it or leave it empty")
_define("MG-ROSTER-012", E, "'{column}' is {length} characters long; keep it under {limit}")

# --- generate ----------------------------------------------------------------------------------
_define("MG-GEN-001", E, "round label {value!r} is not valid; use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)")
_define("MG-GEN-002", E, "the secret key file {path} is not usable: {reason}; set MATRIXGEN_SECRET or fix the file")

# --- read (returned files) ---------------------------------------------------------------------

# --- score -------------------------------------------------------------------------------------

# --- store -------------------------------------------------------------------------------------

# --- report ------------------------------------------------------------------------------------
_define("MG-REPORT-001", E, "round label {value!r} cannot be used as a folder name; use letters, digits, '.', '_' and '-'")
_define("MG-REPORT-002", E, "the report could not be rendered: {reason}; the other reports are unaffected, fix the cause and run the report again")
_define("MG-REPORT-003", W, "the PDF renderer reported: {message}; the PDF was written but may not look right")
_define("MG-REPORT-004", E, "the report could not be written: {reason}; check that the output folder is writable and has space")
_define("MG-REPORT-005", E, "{path} is missing from the templates folder; restore it from the matrixgen source")
_define("MG-REPORT-006", E, "the report asked for {url}, which is not in the templates folder; only template files and data: URLs are served")
_define("MG-REPORT-007", E, "no round {value!r} in the store; known rounds: {known}")
_define("MG-REPORT-008", E, "partnership {value!r} has no current submission in round {round}; check the id (known ids: {known})")
_define("MG-REPORT-009", E, "there are no submissions to report on{where}; score some returned workbooks first")

# --- send --------------------------------------------------------------------------------------
