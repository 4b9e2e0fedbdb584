"""rubric.toml -> a frozen Rubric, with every problem in the file reported at once."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import Problem, has_errors, problem

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
SCORING_METHODS = ("staged",)


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    index: int
    description: str = ""


@dataclass(frozen=True)
class Criterion:
    id: str
    dimension_id: str
    stage_id: str
    text: str
    guidance: str = ""


@dataclass(frozen=True)
class Dimension:
    id: str
    label: str
    criteria: tuple[Criterion, ...]
    description: str = ""


@dataclass(frozen=True)
class Response:
    label: str
    points: float
    met: bool
    aliases: tuple[str, ...] = ()


def normalise_answer_text(value: str) -> str:
    """Fold the ways people and apps re-type an answer: case, padding, doubled spaces, NBSP."""
    return " ".join(value.replace("\u00a0", " ").split()).casefold()


@dataclass(frozen=True)
class Rubric:
    id: str
    title: str
    version: str
    source: str
    stages: tuple[Stage, ...]
    dimensions: tuple[Dimension, ...]
    responses: tuple[Response, ...]
    scoring_method: str = "staged"
    content_hash: str = ""
    _lookup: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # Lookups are built once; the dataclass stays frozen for callers.
    def __post_init__(self) -> None:
        answers: dict[str, Response] = {}
        for r in self.responses:
            for name in (r.label, *r.aliases):
                answers.setdefault(normalise_answer_text(name), r)
        self._lookup.update(
            stages={s.id: s for s in self.stages},
            criteria={c.id: c for d in self.dimensions for c in d.criteria},
            dimensions={d.id: d for d in self.dimensions},
            answers=answers,
            ordered=tuple(c for d in self.dimensions for c in d.criteria),
            typed={},  # text as typed -> what match_response made of it (answers repeat across files)
        )

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """Every criterion in workbook order: by dimension, then by stage."""
        return self._lookup["ordered"]

    def stage(self, stage_id: str) -> Stage:
        return self._lookup["stages"][stage_id]

    def criterion(self, criterion_id: str) -> Criterion | None:
        return self._lookup["criteria"].get(criterion_id)

    def dimension(self, dimension_id: str) -> Dimension:
        return self._lookup["dimensions"][dimension_id]

    def response(self, label: str) -> Response:
        return next(r for r in self.responses if r.label == label)

    @property
    def met_response(self) -> Response:
        return next(r for r in self.responses if r.met)

    @property
    def max_points(self) -> float:
        return max(r.points for r in self.responses)

    def match_response(self, raw: object) -> Response | None:
        """The scale entry a raw cell value means, or None if it is not an answer on the scale.

        Accepts any case and spacing, the aliases in the rubric, and a number equal to a
        response's points (apps that re-type cells sometimes turn answers into numbers).
        """
        if raw is None:
            return None
        if isinstance(raw, bool):
            return None
        if isinstance(raw, (int, float)):
            return next((r for r in self.responses if r.points == float(raw)), None)
        typed = self._lookup["typed"]
        if type(raw) is str and raw in typed:
            return typed[raw]
        found = self._match_text(str(raw))
        if type(raw) is str and len(typed) < 10_000:
            typed[raw] = found
        return found

    def _match_text(self, raw: str) -> Response | None:
        text = normalise_answer_text(raw)
        found = self._lookup["answers"].get(text)
        if found is not None:
            return found
        try:
            number = float(text)
        except ValueError:
            return None
        return next((r for r in self.responses if r.points == number), None)

    def cells(self, dimension_id: str, stage_id: str) -> tuple[Criterion, ...]:
        """The criteria in one cell of the matrix (usually zero or one)."""
        return tuple(c for c in self.dimension(dimension_id).criteria if c.stage_id == stage_id)

    def canonical(self) -> dict[str, Any]:
        """The rubric as plain data: what the content hash covers and what the store keeps."""
        return {
            "rubric": {"id": self.id, "title": self.title, "version": self.version, "source": self.source},
            "scoring": {"method": self.scoring_method},
            "stages": [{"id": s.id, "label": s.label, "description": s.description} for s in self.stages],
            "responses": [
                {"label": r.label, "points": r.points, "met": r.met, "aliases": list(r.aliases)}
                for r in self.responses
            ],
            "dimensions": [
                {
                    "id": d.id,
                    "label": d.label,
                    "description": d.description,
                    "criteria": [
                        {"id": c.id, "stage": c.stage_id, "text": c.text, "guidance": c.guidance}
                        for c in d.criteria
                    ],
                }
                for d in self.dimensions
            ],
        }

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


@dataclass(frozen=True)
class RubricResult:
    rubric: Rubric | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return self.rubric is not None and not has_errors(self.problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)


class RubricError(Exception):
    """Raised by ``require_rubric`` when a rubric has errors; carries them all."""

    def __init__(self, result: RubricResult):
        self.result = result
        super().__init__("\n".join(str(p) for p in result.errors))


def default_rubric_path() -> Path:
    return Path(str(resources.files("matrixgen") / "data" / "rubric.toml"))


def load_rubric(path: str | Path | None = None) -> RubricResult:
    """Load and validate a rubric file; never raises for a bad file."""
    path = Path(path) if path is not None else default_rubric_path()
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return RubricResult(None, (problem("MG-RUBRIC-001", name, reason=_reason(exc)),))
    return parse_rubric(text, name)


def require_rubric(path: str | Path | None = None) -> Rubric:
    result = load_rubric(path)
    if not result.valid:
        raise RubricError(result)
    assert result.rubric is not None
    return result.rubric


def parse_rubric(text: str, name: str = "rubric.toml") -> RubricResult:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{name}: line {match.group(1)}, column {match.group(2)}" if match else name
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        return RubricResult(None, (problem("MG-RUBRIC-002", where, reason=reason),))
    return _Validator(name).build(data)


def rubric_from_canonical(data: dict[str, Any] | str) -> Rubric:
    """Rebuild a stored rubric version (the store keeps canonical JSON)."""
    if isinstance(data, str):
        data = json.loads(data)
    result = _Validator("stored rubric").build(data)
    if result.rubric is None:
        raise RubricError(result)
    return result.rubric


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


_KNOWN = {
    "": ("rubric", "scoring", "stages", "dimensions", "responses"),
    "rubric": ("id", "title", "version", "source", "description"),
    "scoring": ("method",),
    "stages": ("id", "label", "description"),
    "dimensions": ("id", "label", "description", "criteria"),
    "criteria": ("id", "stage", "text", "guidance"),
    "responses": ("label", "points", "met", "aliases"),
}


class _Validator:
    """Walks the parsed TOML once, collecting every problem with its key path."""

    def __init__(self, name: str):
        self.name = name
        self.problems: list[Problem] = []

    def at(self, path: str) -> str:
        return f"{self.name}: {path}" if path else self.name

    def add(self, code: str, path: str, **fields: object) -> None:
        self.problems.append(problem(code, self.at(path), **fields))

    def unknown_keys(self, table: dict[str, Any], kind: str, path: str) -> None:
        known = _KNOWN[kind]
        for key in table:
            if key not in known:
                self.add("MG-RUBRIC-008", f"{path}.{key}" if path else key, key=key, known=", ".join(known))

    def string(self, table: dict[str, Any], key: str, path: str, required: bool = True) -> str:
        where = f"{path}.{key}" if path else key
        value = table.get(key)
        if value is None:
            if required:
                self.add("MG-RUBRIC-003", where, key=key)
            return ""
        if not isinstance(value, str):
            self.add("MG-RUBRIC-009", where, expected="text in quotes", found=type(value).__name__)
            return ""
        return " ".join(value.split()) if key in ("label", "title") else value.strip()

    def ident(self, table: dict[str, Any], key: str, path: str, seen: dict[str, str]) -> str:
        value = self.string(table, key, path)
        where = f"{path}.{key}"
        if value and not ID_RE.match(value):
            self.add("MG-RUBRIC-014", where, value=value)
        elif value in seen:
            self.add("MG-RUBRIC-005", where, value=value, first=seen[value])
        elif value:
            seen[value] = where
        return value

    def tables(self, data: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        where = f"{path}.{key}" if path else key
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.add("MG-RUBRIC-009", where, expected=f"[[{key}]] tables", found=type(value).__name__)
            return []
        return value

    def build(self, data: dict[str, Any]) -> RubricResult:
        self.unknown_keys(data, "", "")
        meta = data.get("rubric")
        if not isinstance(meta, dict):
            self.add("MG-RUBRIC-003", "rubric", key="[rubric]")
            meta = {}
        self.unknown_keys(meta, "rubric", "rubric")
        rid = self.string(meta, "id", "rubric")
        if rid and not ID_RE.match(rid):
            self.add("MG-RUBRIC-014", "rubric.id", value=rid)
        title = self.string(meta, "title", "rubric")
        version = self.string(meta, "version", "rubric")
        source = self.string(meta, "source", "rubric", required=False)

        scoring = data.get("scoring", {})
        method = "staged"
        if isinstance(scoring, dict):
            self.unknown_keys(scoring, "scoring", "scoring")
            method = scoring.get("method", "staged")
            if method not in SCORING_METHODS:
                self.add("MG-RUBRIC-015", "scoring.method", value=method)

        stages = self._stages(data)
        responses = self._responses(data)
        dimensions = self._dimensions(data, stages)

        if has_errors(self.problems):
            return RubricResult(None, tuple(self.problems))
        rubric = Rubric(
            id=rid, title=title, version=version, source=source,
            stages=tuple(stages), dimensions=tuple(dimensions), responses=tuple(responses),
            scoring_method=method,
        )
        digest = hashlib.sha256(rubric.canonical_json().encode("utf-8")).hexdigest()
        object.__setattr__(rubric, "content_hash", digest)
        return RubricResult(rubric, tuple(self.problems))

    def _stages(self, data: dict[str, Any]) -> list[Stage]:
        raw = self.tables(data, "stages", "")
        if not raw and "stages" not in data:
            self.add("MG-RUBRIC-007", "stages")
        elif not raw:
            self.add("MG-RUBRIC-007", "stages")
        seen: dict[str, str] = {}
        stages = []
        for i, table in enumerate(raw):
            path = f"stages[{i}]"
            self.unknown_keys(table, "stages", path)
            sid = self.ident(table, "id", path, seen)
            label = self.string(table, "label", path)
            stages.append(Stage(sid, label, i, self.string(table, "description", path, required=False)))
        return stages

    def _responses(self, data: dict[str, Any]) -> list[Response]:
        raw = self.tables(data, "responses", "")
        if not raw:
            self.add("MG-RUBRIC-010", "responses")
            return []
        seen_answers: dict[str, str] = {}
        responses = []
        for i, table in enumerate(raw):
            path = f"responses[{i}]"
            self.unknown_keys(table, "responses", path)
            label = self.string(table, "label", path)
            points = table.get("points")
            if points is None:
                self.add("MG-RUBRIC-003", f"{path}.points", key="points")
                points = 0.0
            elif isinstance(points, bool) or not isinstance(points, (int, float)):
                self.add("MG-RUBRIC-009", f"{path}.points", expected="a number", found=type(points).__name__)
                points = 0.0
            met = table.get("met", False)
            if not isinstance(met, bool):
                self.add("MG-RUBRIC-009", f"{path}.met", expected="true or false", found=type(met).__name__)
                met = False
            aliases = table.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                self.add("MG-RUBRIC-009", f"{path}.aliases", expected="a list of text", found=type(aliases).__name__)
                aliases = []
            for name in (label, *aliases):
                key = normalise_answer_text(name)
                if key in seen_answers:
                    self.add("MG-RUBRIC-016", path, value=name)
                seen_answers[key] = path
            responses.append(Response(label, float(points), met, tuple(a.strip() for a in aliases)))
        if responses and not any(r.met for r in responses):
            self.add("MG-RUBRIC-011", "responses")
        return responses

    def _dimensions(self, data: dict[str, Any], stages: list[Stage]) -> list[Dimension]:
        raw = self.tables(data, "dimensions", "")
        if not raw:
            self.add("MG-RUBRIC-012", "dimensions")
        stage_index = {s.id: s.index for s in stages}
        stage_names = ", ".join(s.id for s in stages) or "(none defined)"
        dim_seen: dict[str, str] = {}
        crit_seen: dict[str, str] = {}
        dimensions = []
        for i, table in enumerate(raw):
            path = f"dimensions[{i}]"
            self.unknown_keys(table, "dimensions", path)
            did = self.ident(table, "id", path, dim_seen)
            label = self.string(table, "label", path)
            criteria = []
            raw_criteria = self.tables(table, "criteria", path)
            if not raw_criteria:
                self.add("MG-RUBRIC-013", path, dimension=did or label)
            for j, ctable in enumerate(raw_criteria):
                cpath = f"{path}.criteria[{j}]"
                self.unknown_keys(ctable, "criteria", cpath)
                cid = self.ident(ctable, "id", cpath, crit_seen)
                stage = self.string(ctable, "stage", cpath)
                if stage and stage not in stage_index:
                    self.add("MG-RUBRIC-004", f"{cpath}.stage", value=stage, stages=stage_names)
                text = " ".join(self.string(ctable, "text", cpath, required=False).split())
                if "text" not in ctable:
                    self.add("MG-RUBRIC-003", f"{cpath}.text", key="text")
                elif not text:
                    self.add("MG-RUBRIC-006", f"{cpath}.text")
                guidance = " ".join(self.string(ctable, "guidance", cpath, required=False).split())
                criteria.append(Criterion(cid, did, stage, text, guidance))
            # Workbook and report order: by stage; the file's order breaks ties.
            criteria.sort(key=lambda c: stage_index.get(c.stage_id, len(stage_index)))
            dimensions.append(Dimension(did, label, tuple(criteria), self.string(table, "description", path, required=False)))
        return dimensions
