"""Reading one returned workbook: identity from its three places, the signature, the answers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import python_calamine
from defusedxml import ElementTree as SafeET

from .. import identity
from ..errors import Problem, has_errors, problem
from ..identity import Identity
from ..layout import (
    ASSESSMENT,
    META,
    META_KEYS,
    PARTNERSHIP,
    PARTNERSHIP_FIELDS,
    PROP_PREFIX,
    RESPONDENT_FIELDS,
)
from ..rubric import Response, Rubric, normalise_answer_text
from .kinds import DEFAULT_LIMITS, KIND_CODES, Kind, Limits, sniff, zip_kind
from .kinds import mb as _mb
from .parts import (
    Parts,
    _deadline,
    _Refused,
    _Timeout,
    cell_ref,
    column_letters,
    formula_cells,
    quote_sheet,
    sheet_extent,
    sheet_parts,
    text,
    top_elements,
)


@dataclass(frozen=True)
class Answer:
    criterion_id: str
    raw: str  # the cell as text, '' when blank
    response: Response | None  # None: blank, off the scale, a formula, or conflicting duplicates
    evidence: str
    cell: str  # where the answer is, e.g. Assessment!E12


@dataclass(frozen=True)
class ReadResult:
    """Everything read from one returned file. ``rejected`` files carry only their problems."""

    name: str
    kind: Kind
    problems: tuple[Problem, ...]
    rejected: bool
    identity: Identity | None = None  # signed identity, or for a generic blank the typed one
    verified: bool = False  # True when the office's signature verifies and names a partnership
    identity_source: str = ""  # where the identity came from, e.g. "hidden sheet, properties, Partnership sheet"
    rubric: Rubric | None = None
    answers: tuple[Answer, ...] = ()
    respondent: Mapping[str, str] = field(default_factory=dict)  # respondent_name, _role, _email, completed_on
    typed_id: str = ""  # a partnership id typed on a generic blank (never signed; match.py checks it)

    def responses(self) -> dict[str, Response | None]:
        """criterion id -> Response, for ``score.score``; absent or None = not answered."""
        return {a.criterion_id: a.response for a in self.answers}

    @property
    def incomplete(self) -> bool:
        return not self.rejected and has_errors(self.problems)


# --- entry points ------------------------------------------------------------------------------


def skip_reason(path: Path) -> Problem | None:
    """Office lock files (``~$name.xlsx``) and hidden files are not returns: a note, not a file."""
    if path.name.startswith("~$"):
        return problem("MG-READ-031", path.name)
    if path.name.startswith("."):
        return problem("MG-READ-032", path.name)
    return None


def read_file(path: str | Path, rubrics: Mapping[str, Rubric], key: bytes,
              limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            return _reject(path.name, Kind.OTHER, problem("MG-READ-002", path.name, size=_mb(size), limit=_mb(limits.max_bytes)))
        data = path.read_bytes()
    except OSError as exc:
        return _reject(path.name, Kind.OTHER, problem("MG-READ-033", path.name, reason=exc.strerror or str(exc)))
    return read_workbook(data, path.name, rubrics, key, limits)


def read_workbook(data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes,
                  limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    """Read one returned file's bytes. Never raises for anything in the file.

    ``rubrics`` maps a rubric content hash to the Rubric (every version the office issued);
    ``key`` is the office's signing key.
    """
    try:
        with _deadline(limits.seconds):
            return _Reader(data, name, rubrics, key, limits).read()
    except _Timeout:
        return _reject(name, Kind.XLSX, problem("MG-READ-015", name, seconds=limits.seconds))
    except MemoryError:
        return _reject(name, Kind.DAMAGED, problem("MG-READ-003", name, reason="it needs too much memory to open"))
    except Exception as exc:  # an untrusted file must never crash a batch
        return _reject(name, Kind.DAMAGED, problem("MG-READ-003", name, reason=f"unreadable: {type(exc).__name__}"))


def _reject(name: str, kind: Kind, *problems: Problem) -> ReadResult:
    return ReadResult(name=name, kind=kind, problems=tuple(problems), rejected=True)


# --- the reader ----------------------------------------------------------------------------------

Grid = list[list[object]]
SIGNED = (*identity.FIELDS, "signature")
TYPED_ON_GENERIC = ("partnership_name", "region", "sector")
SHEET_LABELS = {label.casefold(): key for label, key in (*PARTNERSHIP_FIELDS, *RESPONDENT_FIELDS)}
META_LABELS = {key.casefold(): key for key in META_KEYS}


@dataclass(eq=False)
class _Place:
    """One of the three places a workbook carries its identity."""

    name: str  # as said to the user
    values: dict[str, str]
    cells: Mapping[str, str | tuple[str, int, int]]  # key -> its location, or the (sheet, row, column) of it

    def where(self, key: str, default: str) -> str:
        """Where ``key``'s value is, as the user sees it (only needed for a problem, so made on demand)."""
        found = self.cells.get(key)
        if found is None:
            return default
        return found if isinstance(found, str) else cell_ref(*found)

    @property
    def present(self) -> bool:
        return bool(self.values.get("rubric_hash") or self.values.get("signature"))


class _Reader:
    def __init__(self, data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes, limits: Limits):
        self.data, self.name, self.rubrics, self.key, self.limits = data, name, rubrics, key, limits
        self.problems: list[Problem] = []
        self.grids: dict[str, Grid] = {}
        self._label_cache: dict[tuple[str, int], dict[str, tuple[object, int, int]]] = {}

    def read(self) -> ReadResult:
        if len(self.data) > self.limits.max_bytes:
            return _reject(self.name, Kind.OTHER, problem(
                "MG-READ-002", self.name, size=_mb(len(self.data)), limit=_mb(self.limits.max_bytes)))
        kind, what = sniff(self.data)
        if kind is not None:
            return _reject(self.name, kind, problem(KIND_CODES[kind], self.name, what=what))
        try:
            self.parts = Parts(self.data, self.name, self.limits)
            kind, what = zip_kind(self.parts)
            if kind is not Kind.XLSX:
                return _reject(self.name, kind, problem(KIND_CODES[kind], self.name, what=what))
            self.part_of = sheet_parts(self.parts)
            self.book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self.data))
        except _Refused as refused:
            return _reject(self.name, refused.kind, refused.problem)
        except (python_calamine.CalamineError, SafeET.ParseError, ValueError) as exc:
            return _reject(self.name, Kind.DAMAGED, problem("MG-READ-003", self.name, reason=_calamine_reason(exc)))
        return self._read_xlsx()

    # Sheets are loaded lazily and only after their extent is checked.
    def grid(self, sheet: str) -> Grid:
        if sheet not in self.grids:
            body = self.parts.get(self.part_of.get(sheet, ""), b"")
            rows, cols, last = sheet_extent(body)
            if rows * cols > self.limits.max_cells:
                raise _Refused(Kind.DAMAGED, problem("MG-READ-016", self.name, sheet=sheet, cells=f"{rows * cols:,}", ref=last))
            self.grids[sheet] = self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        return self.grids[sheet]

    def find_sheet(self, preferred: str, looks_right) -> str | None:
        """The sheet by its name if its content is right, else the first sheet whose content is."""
        names = list(self.book.sheet_names)
        order = ([preferred] if preferred in names else []) + [n for n in names if n != preferred]
        for sheet in order:
            if looks_right(sheet):
                return sheet
        return None

    def labels(self, sheet: str, labels: Mapping[str, str]) -> dict[str, tuple[object, int, int]]:
        key = (sheet, id(labels))
        if key not in self._label_cache:
            self._label_cache[key] = _labels(self.grid(sheet), labels)
        return self._label_cache[key]

    def _read_xlsx(self) -> ReadResult:
        try:
            return self._read_checked()
        except _Refused as refused:
            return _reject(self.name, refused.kind, refused.problem)
        except python_calamine.CalamineError as exc:
            return _reject(self.name, Kind.DAMAGED, problem("MG-READ-003", self.name, reason=_calamine_reason(exc)))

    def _read_checked(self) -> ReadResult:
        meta_sheet = self.find_sheet(META, lambda s: {"rubric_hash", "signature"} <= self.labels(s, META_LABELS).keys())
        card_sheet = self.find_sheet(PARTNERSHIP, lambda s: {"partnership_id", "rubric_hash"} <= self.labels(s, SHEET_LABELS).keys())
        places = [
            self._labelled_place("hidden sheet", meta_sheet, META_LABELS),
            self._properties_place(),
            self._labelled_place(f"{card_sheet or PARTNERSHIP} sheet", card_sheet, SHEET_LABELS),
        ]
        card = places[2]
        present = [p for p in places if p.present]
        if not present:
            return self._rejected(problem("MG-READ-025", self.name))
        reference = present[0]
        generic = not reference.values.get("partnership_id")
        mismatch = self._cross_check(present, generic, card)
        if mismatch is not None:
            return self._rejected(mismatch)
        values = {k: reference.values.get(k, "") for k in SIGNED}
        if generic:  # a generic blank is signed with these empty; what is typed there is not signed
            values.update({k: "" for k in TYPED_ON_GENERIC})
        if not identity.verify(values, values["signature"], self.key):
            claims = f"; it names {values['partnership_name']!r}" if values.get("partnership_name") else ""
            return self._rejected(problem("MG-READ-027", self.name, claims=claims))
        if len(present) < len(places):
            missing = [p.name for p in places if not p.present]
            self.problems.append(problem("MG-READ-030", self.name, found=", ".join(p.name for p in present),
                                         missing=", ".join(missing)))
        ident = Identity(**{k: values[k] for k in identity.FIELDS}, signature=values["signature"])
        verified, source = True, ", ".join(p.name for p in present)
        typed_id = ""
        if generic:
            typed_id = card.values.get("partnership_id", "").strip()
            typed = {k: card.values.get(k, "") for k in TYPED_ON_GENERIC}
            ident = replace(ident, **typed)
            verified, source = False, "typed name"
            if typed["partnership_name"]:
                self.problems.append(problem("MG-READ-029", card.where("partnership_name", self.name)))
            else:
                self.problems.append(problem("MG-READ-028", card.where("partnership_name", f"{PARTNERSHIP}!B4")))

        rubric = self.rubrics.get(ident.rubric_hash)
        if rubric is None:
            return self._rejected(problem("MG-SCORE-001", self.name, rubric_id=ident.rubric_id or "?",
                                          version=ident.rubric_version or "?", hash=ident.rubric_hash[:12] or "?"),
                                  ident=ident, verified=verified, source=source)
        answers = self._answers(rubric)
        if answers is None:
            return self._rejected(problem("MG-READ-017", self.name), ident=ident, verified=verified, source=source)
        respondent = {key: card.values.get(key, "") for _label, key in RESPONDENT_FIELDS}
        return ReadResult(
            name=self.name, kind=Kind.XLSX, problems=tuple(self.problems), rejected=False, identity=ident,
            verified=verified, identity_source=source, rubric=rubric, answers=answers, respondent=respondent,
            typed_id=typed_id,
        )

    def _rejected(self, found: Problem, ident: Identity | None = None, verified: bool = False, source: str = "") -> ReadResult:
        return ReadResult(name=self.name, kind=Kind.XLSX, problems=(*self.problems, found), rejected=True,
                          identity=ident, verified=verified, identity_source=source)

    # --- identity ---

    def _labelled_place(self, place: str, sheet: str | None, labels: Mapping[str, str]) -> _Place:
        if sheet is None:
            return _Place(place, {}, {})
        found = self.labels(sheet, labels)
        return _Place(place, {k: text(v) for k, (v, _r, _c) in found.items()},
                      {k: (sheet, r, c) for k, (_v, r, c) in found.items()})

    def _properties_place(self) -> _Place:
        part = next((n for n in self.parts.keys() if n.lower().endswith("docprops/custom.xml")), None)
        values: dict[str, str] = {}
        if part is not None:
            for name, value in top_elements(self.parts[part]):
                if name.startswith(PROP_PREFIX):
                    value = value.strip()
                    values[name[len(PROP_PREFIX):]] = "" if value == "-" else value
        return _Place("properties", values, {k: f"document property {PROP_PREFIX}{k}" for k in values})

    def _cross_check(self, present: list[_Place], generic: bool, card: _Place) -> Problem | None:
        reference = present[0]
        for other in present[1:]:
            for key in SIGNED:
                if generic and key in (*TYPED_ON_GENERIC, "partnership_id") and card in (reference, other):
                    continue  # a generic blank's respondent types these on the Partnership sheet
                expected, found = reference.values.get(key, ""), other.values.get(key, "")
                if found != expected:
                    return problem("MG-READ-026", other.where(key, other.name), field=key, found=found,
                                   expected=expected, other=reference.where(key, reference.name))
        return None

    # --- answers ---

    def _answers(self, rubric: Rubric) -> tuple[Answer, ...] | None:
        headers: dict[str, tuple[int, dict[str, int]] | None] = {}
        sheet = self.find_sheet(ASSESSMENT, lambda s: headers.setdefault(s, _header(self.grid(s))) is not None)
        if sheet is None:
            return None
        grid = self.grid(sheet)
        header_row, cols = headers[sheet]  # type: ignore[misc]
        formulas = formula_cells(self.parts.get(self.part_of.get(sheet, ""), b""))
        choices = ", ".join(r.label for r in rubric.responses)
        by_id = {c.id.casefold(): c.id for c in rubric.criteria}
        rows: dict[str, list[int]] = {}
        for r in range(header_row + 1, len(grid)):
            raw_id = text(_at(grid, r, cols["id"]))
            if not raw_id:
                continue
            cid = by_id.get(raw_id.casefold())
            if cid is not None:
                rows.setdefault(cid, []).append(r)
            elif ID_LIKE.match(raw_id) or text(_at(grid, r, cols["response"])):
                self.problems.append(problem("MG-READ-020", cell_ref(sheet, r, cols["id"]), id=raw_id))

        rc, ec = cols["response"], cols.get("evidence")
        column = column_letters(rc + 1)
        in_sheet = f"{quote_sheet(sheet)}!{column}"

        def one(cid: str, r: int) -> tuple[Answer, Problem | None]:
            ref = f"{in_sheet}{r + 1}"
            raw = _at(grid, r, rc)
            value = text(raw)
            evidence = text(_at(grid, r, ec)) if ec is not None else ""
            if formulas and f"{column}{r + 1}" in formulas:
                return Answer(cid, value, None, evidence, ref), problem("MG-READ-023", ref, id=cid, choices=choices)
            if value == "":
                return Answer(cid, "", None, evidence, ref), problem("MG-READ-021", ref, id=cid, choices=choices)
            response = rubric.match_response(raw)
            if response is None:
                return Answer(cid, value, None, evidence, ref), problem("MG-READ-022", ref, value=value, id=cid, choices=choices)
            return Answer(cid, value, response, evidence, ref), None

        answers = []
        for c in rubric.criteria:
            found = rows.get(c.id)
            if not found:
                self.problems.append(problem("MG-READ-018", sheet, id=c.id))
                continue
            candidates = [one(c.id, r) for r in found]
            first, issue = candidates[0]
            if len(candidates) > 1:
                where = ", ".join(a.cell for a, _ in candidates)
                same = len({(normalise_answer_text(a.raw), a.response) for a, _ in candidates}) == 1
                if not same:
                    self.problems.append(problem("MG-READ-019", first.cell, id=c.id, count=len(found), rows=where))
                    answers.append(replace(first, response=None))
                    continue
                self.problems.append(problem("MG-READ-024", first.cell, id=c.id, count=len(found), rows=where))
            if issue is not None:
                self.problems.append(issue)
            answers.append(first)
        return tuple(answers)


ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


def _at(grid: Grid, row: int, col: int | None) -> object:
    if col is None or row >= len(grid) or col >= len(grid[row]):
        return None
    return grid[row][col]


def _labels(grid: Grid, labels: Mapping[str, str]) -> dict[str, tuple[object, int, int]]:
    """key -> (value to the right of its label, row, column of the value); first label wins."""
    found: dict[str, tuple[object, int, int]] = {}
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell:
                key = labels.get(_label_key(cell))
                if key is not None and key not in found:
                    found[key] = (row[c + 1] if c + 1 < len(row) else None, r, c + 1)
    return found


@lru_cache(maxsize=4096)  # the labels are the same cells in every workbook
def _label_key(cell: str) -> str:
    return " ".join(cell.split()).casefold()


HEADER_SCAN_ROWS = 200


def _header(grid: Grid) -> tuple[int, dict[str, int]] | None:
    """The Assessment header row and the columns of ID, Response and Evidence, wherever they are."""
    for r, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        cols: dict[str, int] = {}
        for c, cell in enumerate(row):
            if isinstance(cell, str):
                name = cell.strip().casefold()
                if name in ("id", "response", "evidence") and name not in cols:
                    cols[name] = c
        if "id" in cols and "response" in cols:
            return r, cols
    return None


def _calamine_reason(exc: BaseException) -> str:
    return f"the reader says: {str(exc)[:120]}" if str(exc) else type(exc).__name__
