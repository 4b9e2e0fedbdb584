"""Stored results -> HTML (Jinja2) -> PDF (WeasyPrint): a report per partnership, one for the state.

The report works on view models (``PartnershipReportData``, ``PortfolioData``) that hold
everything a page shows, so rendering needs no database and tests build them from the real
rubric and ``score.score()``. ``load_reports`` builds them from the store; ``write_reports``
renders many at once; ``write_stored_reports`` also records each PDF in the store.

Safety. Respondents' evidence is untrusted text. Jinja2 escapes it (autoescape, and
``StrictUndefined`` so a typo in a template fails instead of printing nothing), and WeasyPrint
gets ``TemplateFetcher``, which serves files inside ``templates/`` and ``data:`` URLs and refuses
everything else. A refused URL or one of our own files missing stops the render: a report that
silently lost its font or stylesheet is worse than no report.

Speed. A report costs what it contains: WeasyPrint lays out (~75% of the time) and draws every
box in Python, about a millisecond per text line or table cell; font subsetting is cheap with
HarfBuzz's subsetter (``libharfbuzz-subset0``). What can be shared, ``Renderer`` builds once: the
parsed stylesheets, the ``FontConfiguration`` holding the shipped fonts, the Jinja environment.
That saves little per report; what scales is ``write_reports``'s process pool, one ``Renderer``
per worker. Templates stay lean for the same reason (fixed table layout, few boxes per cell).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import mimetypes
import os
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined
# WeasyPrint 68+ (pinned in pyproject): a fetcher class; FatalURLFetchingError stops the render.
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from . import interrupt
from .errors import Problem, Severity, has_errors, problem
from .files import discard_partial, write_private
from .roster import Partnership
from .rubric import Response, Rubric
from .score import Score, rule_sentence, stage_label
from .score import score as score_answers

TEMPLATES = Path(__file__).resolve().parent / "templates"
PEERS_MIN = 5  # fewer partnerships than this in a round and counts could point at someone
MATRIX_TEXT = 72  # characters of criterion text in a matrix cell; the full text is in the rubric
NOT_YET = "Not yet at a stage"
ROUND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
# Each stylesheet is parsed once per Renderer. Fonts / Variables / Page rules / Style.
STYLESHEETS = {
    "partnership": ("fonts.css", "variables.css", "page.css", "report.css"),
    "portfolio": ("fonts.css", "variables.css", "page.css", "report.css", "portfolio.css"),
}
PDF_OPTIONS = {
    # PDF/UA-1: tagged structure, document title shown, language, XMP identification.
    "pdf_variant": "pdf/ua-1",
}


# --- view models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One criterion as the partnership answered it."""

    label: str | None = None  # the response label on the rubric's scale; None = unanswered
    evidence: str = ""


@dataclass(frozen=True)
class PastRound:
    """An earlier round of the same partnership, for the progress section."""

    round: str
    score: Score
    answers: Mapping[str, Answer] = field(default_factory=dict)


@dataclass(frozen=True)
class PartnershipReportData:
    rubric: Rubric
    partnership: Partnership
    round: str
    score: Score
    answers: Mapping[str, Answer]
    received_at: datetime | date | str | None = None
    respondent: str = ""
    sha256: str = ""
    status: str = "complete"
    problems: tuple[Problem, ...] = ()
    history: tuple[PastRound, ...] = ()  # earlier rounds, oldest first
    peers: Mapping[str | None, int] | None = None  # stage id (None = no stage) -> partnerships
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class PortfolioRow:
    partnership: Partnership
    stage_id: str | None
    progress: float
    status: str = "complete"
    problem_count: int = 0
    previous_stage_id: str | None = None
    previous_progress: float | None = None  # None = no submission in the previous round

    @property
    def has_previous(self) -> bool:
        return self.previous_progress is not None


@dataclass(frozen=True)
class PortfolioData:
    rubric: Rubric
    round: str
    rows: tuple[PortfolioRow, ...]
    previous_round: str | None = None
    not_returned: tuple[Partnership, ...] | None = None  # None = the round's roster is not known
    problems: tuple[tuple[str, Problem], ...] = ()  # (partnership id, problem)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def stage_index(self, stage_id: str | None) -> int:
        return _stage_index(self.rubric, stage_id)

    @property
    def counts_by_stage(self) -> dict[str | None, int]:
        """Partnerships per overall stage, every stage present (None = not yet at a stage)."""
        counts: dict[str | None, int] = {None: 0, **{s.id: 0 for s in self.rubric.stages}}
        for row in self.rows:
            counts[row.stage_id] = counts.get(row.stage_id, 0) + 1
        return counts

    def counts_by(self, attribute: str) -> dict[str, dict[str | None, int]]:
        """``{"region name": {stage id: count}}`` for attribute ``region`` or ``sector``."""
        groups: dict[str, dict[str | None, int]] = {}
        for row in sorted(self.rows, key=lambda r: natural(getattr(r.partnership, attribute))):
            key = getattr(row.partnership, attribute) or "(not given)"
            counts = groups.setdefault(key, {None: 0, **{s.id: 0 for s in self.rubric.stages}})
            counts[row.stage_id] = counts.get(row.stage_id, 0) + 1
        return groups

    @property
    def advanced(self) -> tuple[PortfolioRow, ...]:
        return tuple(r for r in self.rows if r.has_previous
                     and self.stage_index(r.stage_id) > self.stage_index(r.previous_stage_id))

    @property
    def slipped(self) -> tuple[PortfolioRow, ...]:
        return tuple(r for r in self.rows if r.has_previous
                     and self.stage_index(r.stage_id) < self.stage_index(r.previous_stage_id))


def natural(text: str) -> tuple:
    """Sort key that puts "Region 2" before "Region 10"."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text))


def peer_counts(rubric: Rubric, scores: Iterable[Score]) -> dict[str | None, int] | None:
    """How many partnerships are at each stage; None when the round is too small to show."""
    scores = list(scores)
    if len(scores) < PEERS_MIN:
        return None
    counts: dict[str | None, int] = {None: 0, **{s.id: 0 for s in rubric.stages}}
    for s in scores:
        counts[s.stage_id] = counts.get(s.stage_id, 0) + 1
    return counts


# --- the URL fetcher --------------------------------------------------------------------------


class AssetError(FatalURLFetchingError):
    """A URL was refused, or one of our own template files is missing. Stops the render."""

    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


class TemplateFetcher(URLFetcher):
    """Serves files inside ``root`` and ``data:`` URLs; refuses everything else.

    ``requests`` records every URL asked for when ``record`` is true (tests use it to prove
    that respondents' text made WeasyPrint fetch nothing).
    """

    def __init__(self, root: Path = TEMPLATES, record: bool = False):
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)
        self.root = Path(root).resolve()
        self.record = record
        self.requests: list[str] = []
        self._cache: dict[Path, bytes] = {}

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if self.record:
            self.requests.append(url)
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            if parts.netloc in ("", "localhost"):
                path = Path(url2pathname(parts.path)).resolve()  # url2pathname decodes %xx
                if path.is_relative_to(self.root):
                    return self._serve(url, path)
        raise AssetError(problem("MG-REPORT-006", "", url=url[:200]))

    def _serve(self, url: str, path: Path) -> URLFetcherResponse:
        body = self._cache.get(path)
        if body is None:
            try:
                body = path.read_bytes()
            except OSError:
                raise AssetError(problem("MG-REPORT-005", "", path=path.relative_to(self.root).as_posix())) from None
            self._cache[path] = body
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body, {"Content-Type": kind})


# --- presentation helpers ---------------------------------------------------------------------


def percent(value: float) -> int:
    """0.625 -> 63 (half up, as people round, not Python's half-to-even)."""
    return int(value * 100 + 0.5)


def abbreviate(text: str, limit: int = 110) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-(")
    return cut + "…"


def format_day(value: datetime | date | str | None) -> str:
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value:%B} {value.day}, {value.year}"


def format_moment(value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return value.strftime("%Y-%m-%d %H:%M")


def _iso(value: datetime | str) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def answer_kind(response: Response | None) -> str:
    """The CSS class and legend key of an answer: met, progress, notyet or unanswered."""
    if response is None:
        return "unanswered"
    if response.met:
        return "met"
    return "progress" if response.points > 0 else "notyet"


SYMBOLS = {"met": "●", "progress": "◐", "notyet": "○", "unanswered": "?"}


def _response(rubric: Rubric, answer: Answer | None) -> Response | None:
    if answer is None or answer.label is None:
        return None
    return rubric.match_response(answer.label)


def _legend(rubric: Rubric) -> list[dict]:
    entries = [{"kind": answer_kind(r), "label": r.label} for r in rubric.responses]
    entries.append({"kind": "unanswered", "label": "Unanswered"})
    return [dict(e, symbol=SYMBOLS[e["kind"]]) for e in entries]


def _stage_index(rubric: Rubric, stage_id: str | None) -> int:
    # An earlier round may have used another rubric version: unknown stage ids rank lowest.
    stage = next((s for s in rubric.stages if s.id == stage_id), None)
    return -1 if stage is None else stage.index


def _label(rubric: Rubric, stage_id: str | None, none: str = NOT_YET) -> str:
    if stage_id is not None and not any(s.id == stage_id for s in rubric.stages):
        return stage_id  # a stage of another rubric version: its id is the best we have
    return stage_label(rubric, stage_id, none)


def _change(rubric: Rubric, before: str | None, after: str | None) -> str:
    a, b = _stage_index(rubric, before), _stage_index(rubric, after)
    return "up" if b > a else "down" if b < a else "same"


def _progress_chart(points: Sequence[tuple[str, float]]) -> dict:
    """Coordinates for the small inline-SVG line chart of overall progress by round."""
    width, height, left, right, top, bottom, inset = 320, 120, 34, 8, 14, 22, 22
    inner_h = height - top - bottom
    first, last = left + inset, width - right - inset
    step = (last - first) / (len(points) - 1) if len(points) > 1 else 0
    dots = []
    for i, (label, value) in enumerate(points):
        x = first + i * step if len(points) > 1 else (first + last) / 2
        y = top + inner_h * (1 - value)
        dots.append({"x": round(x, 1), "y": round(y, 1), "label": label, "pct": percent(value)})
    return {
        "width": width, "height": height, "left": left, "right": width - right,
        "top": top, "bottom": top + inner_h, "mid": top + inner_h / 2,
        "dots": dots,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "alt": "Overall progress by round: " + "; ".join(f"{d['label']} {d['pct']}%" for d in dots) + ".",
    }


def _peers_chart(rubric: Rubric, counts: Mapping[str | None, int], own: str | None) -> dict:
    """Rows of the horizontal bar chart of partnerships per stage (counts only, no names)."""
    keys = [None, *(s.id for s in rubric.stages)]
    largest = max(counts.values()) or 1
    label_x, bar_x, bar_max, row = 118, 124, 200, 17
    rows = [
        {
            "label": stage_label(rubric, key, NOT_YET),
            "count": counts.get(key, 0),
            "width": round(bar_max * counts.get(key, 0) / largest, 1),
            "y": i * row,
            "you": key == own,
        }
        for i, key in enumerate(keys)
    ]
    total = sum(counts.values())
    alt = "Partnerships in this round by overall stage: " + "; ".join(
        f"{r['label']} {r['count']}{' (this partnership)' if r['you'] else ''}" for r in rows) + "."
    return {
        "total": total,
        "rows": rows,
        "alt": alt,
        "chart": {"width": bar_x + bar_max + 70, "height": len(rows) * row + 2, "label_x": label_x, "bar_x": bar_x},
    }


# --- template contexts ------------------------------------------------------------------------


def partnership_context(data: PartnershipReportData) -> dict:
    """Everything the partnership template shows, computed here so the template stays simple."""
    rubric, score = data.rubric, data.score
    responses = {c.id: _response(rubric, data.answers.get(c.id)) for c in rubric.criteria}
    evidence = {c.id: (data.answers.get(c.id) or Answer()).evidence.strip() for c in rubric.criteria}

    current = _stage_index(rubric, score.stage_id)
    ladder = [
        {"label": s.label, "state": "reached" if s.index < current else "current" if s.index == current else "ahead"}
        for s in rubric.stages
    ]

    matrix = []
    for dim in rubric.dimensions:
        ds = score.dimension(dim.id)
        cells = []
        for stage in rubric.stages:
            items = [
                {
                    "id": c.id,
                    "text": abbreviate(c.text, MATRIX_TEXT),
                    "kind": answer_kind(responses[c.id]),
                    "symbol": SYMBOLS[answer_kind(responses[c.id])],
                    "answer": responses[c.id].label if responses[c.id] else "Unanswered",
                }
                for c in rubric.cells(dim.id, stage.id)
            ]
            kind = items[0]["kind"] if len(items) == 1 else "mixed"
            cells.append({"criteria": items, "kind": kind, "reached": ds.stage_id == stage.id})
        matrix.append({"label": dim.label, "reached": stage_label(rubric, ds.stage_id), "cells": cells})

    next_steps = []
    for dim in rubric.dimensions:
        ds = score.dimension(dim.id)
        criteria = [rubric.criterion(cid) for cid in ds.next_steps]
        next_steps.append({
            "label": dim.label,
            "reached": stage_label(rubric, ds.stage_id),
            "next": stage_label(rubric, ds.next_stage_id) if ds.next_stage_id else None,
            "criteria": [
                {
                    "id": c.id,
                    "text": c.text,
                    "answer": responses[c.id].label if responses[c.id] else "Unanswered",
                    "kind": answer_kind(responses[c.id]),
                    "evidence": evidence[c.id],
                }
                for c in criteria if c is not None
            ],
        })

    evidence_rows = [
        {
            "id": c.id,
            "answer": responses[c.id].label if responses[c.id] else "Unanswered",
            "symbol": SYMBOLS[answer_kind(responses[c.id])],
            "evidence": evidence[c.id],
        }
        for c in rubric.criteria if evidence[c.id]
    ]
    no_evidence = [c.id for c in rubric.criteria if not evidence[c.id]]

    since = None
    if data.history:
        before = data.history[-1]
        dims = []
        for dim in rubric.dimensions:
            now = score.dimension(dim.id)
            then = next((d for d in before.score.dimensions if d.dimension_id == dim.id), None)
            dims.append({
                "label": dim.label,
                "then": _label(rubric, then.stage_id, "Not yet") if then else "—",
                "now": _label(rubric, now.stage_id, "Not yet"),
                "then_pct": f"{percent(then.progress)}%" if then else "—",
                "now_pct": f"{percent(now.progress)}%",
                "change": _change(rubric, then.stage_id, now.stage_id) if then else "same",
            })
        order = [c.id for c in rubric.criteria]
        newly_met = [rubric.criterion(cid) for cid in order if cid in score.met and cid not in before.score.met]
        slipped = [rubric.criterion(cid) for cid in order if cid in before.score.met and cid not in score.met]
        points = [(r.round, r.score.progress) for r in data.history] + [(data.round, score.progress)]
        since = {
            "round": before.round,
            "then": _label(rubric, before.score.stage_id),
            "now": stage_label(rubric, score.stage_id),
            "then_pct": percent(before.score.progress),
            "now_pct": percent(score.progress),
            "change": _change(rubric, before.score.stage_id, score.stage_id),
            "dimensions": dims,
            "newly_met": [c.id for c in newly_met],
            "slipped": [c.id for c in slipped],
            "chart": _progress_chart(points),
        }

    peers = None
    if data.peers is not None and sum(data.peers.values()) >= PEERS_MIN:
        peers = _peers_chart(rubric, data.peers, score.stage_id)

    p = data.partnership
    return {
        "title": f"{rubric.title}: {p.name}, round {data.round}",
        "rubric": {"id": rubric.id, "title": rubric.title, "version": rubric.version},
        "partnership": {"name": p.name, "region": p.region, "sector": p.sector},
        "round": data.round,
        "received": format_day(data.received_at),
        "respondent": data.respondent or "not given",
        "sha": (data.sha256 or "")[:12] or "none",
        "generated": format_moment(data.generated_at),
        "generated_iso": _iso(data.generated_at),
        "status": data.status,
        "stage": stage_label(rubric, score.stage_id, NOT_YET),
        "rule": rule_sentence(rubric, score.stage_id),
        "ladder": ladder,
        "not_at_stage": score.stage_id is None,
        "progress": percent(score.progress),
        "points": f"{score.points:g}",
        "possible": f"{score.possible:g}",
        "stages": [s.label for s in rubric.stages],
        "legend": _legend(rubric),
        "matrix": matrix,
        "since": since,
        "next_steps": next_steps,
        "evidence": evidence_rows,
        "no_evidence": no_evidence,
        "peers": peers,
        "unanswered": list(score.unanswered),
        "problems": [{"code": x.code, "location": x.location, "message": x.message} for x in data.problems],
    }


def portfolio_context(data: PortfolioData) -> dict:
    rubric = data.rubric
    keys = [None, *(s.id for s in rubric.stages)]
    labels = [stage_label(rubric, k, "Not yet") for k in keys]

    def change(row: PortfolioRow) -> dict:
        if not row.has_previous:
            return {"kind": "new", "text": "new"}
        delta = percent(row.progress) - percent(row.previous_progress or 0.0)
        move = _change(rubric, row.previous_stage_id, row.stage_id)
        arrow = {"up": "↑ ", "down": "↓ ", "same": ""}[move]
        return {"kind": move, "text": f"{arrow}{delta:+d} pts" if delta else f"{arrow}±0 pts"}

    rows = sorted(data.rows, key=lambda r: natural(r.partnership.name))
    table = [
        {
            "id": r.partnership.id,
            "name": r.partnership.name,
            "region": r.partnership.region,
            "sector": r.partnership.sector,
            "stage": _label(rubric, r.stage_id),
            "progress": percent(r.progress),
            "change": change(r),
            "status": r.status,
            "problems": r.problem_count,
        }
        for r in rows
    ]
    overall = data.counts_by_stage

    def grouped(attribute: str) -> list[dict]:
        return [
            {"name": name, "counts": [counts[k] for k in keys], "total": sum(counts.values())}
            for name, counts in data.counts_by(attribute).items()
        ]

    def moved(found: Iterable[PortfolioRow]) -> list[dict]:
        return [
            {"name": r.partnership.name,
             "then": _label(rubric, r.previous_stage_id),
             "now": _label(rubric, r.stage_id)}
            for r in sorted(found, key=lambda r: natural(r.partnership.name))
        ]

    by_code: dict[str, dict] = {}
    names = {r.partnership.id: r.partnership.name for r in data.rows}
    for pid, found in data.problems:
        entry = by_code.setdefault(found.code, {"code": found.code, "severity": found.severity.value,
                                                "example": found.message, "who": set(), "count": 0})
        entry["who"].add(pid)
        entry["count"] += 1
    problem_rows = [
        dict(e, who=len(e["who"])) for e in sorted(by_code.values(), key=lambda e: (-len(e["who"]), e["code"]))
    ]
    incomplete = [r for r in table if r["status"] != "complete"]
    total = len(data.rows)
    return {
        "title": f"{rubric.title}: portfolio, round {data.round}",
        "rubric": {"id": rubric.id, "title": rubric.title, "version": rubric.version},
        "round": data.round,
        "previous_round": data.previous_round,
        "generated": format_moment(data.generated_at),
        "generated_iso": _iso(data.generated_at),
        "total": total,
        "stage_labels": labels,
        "overall": [
            {"label": stage_label(rubric, k, NOT_YET), "count": overall[k],
             "share": percent(overall[k] / total) if total else 0,
             "width": round(100 * overall[k] / max(max(overall.values()), 1), 1)}
            for k in keys
        ],
        "mean_progress": percent(sum(r.progress for r in data.rows) / total) if total else 0,
        "by_region": grouped("region"),
        "by_sector": grouped("sector"),
        "rows": table,
        "advanced": moved(data.advanced),
        "slipped": moved(data.slipped),
        "compared": sum(1 for r in data.rows if r.has_previous),
        "not_returned": None if data.not_returned is None else sorted(
            ({"id": p.id, "name": p.name, "region": p.region, "sector": p.sector} for p in data.not_returned),
            key=lambda p: natural(p["name"])),
        "problem_codes": problem_rows,
        "incomplete": incomplete,
        "problem_partnerships": sorted(
            {names.get(pid, pid) for pid, _ in data.problems}, key=natural),
    }


# --- rendering --------------------------------------------------------------------------------


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


class Renderer:
    """Parsed stylesheets, the font configuration and the Jinja environment, built once.

    One Renderer renders any number of reports, one at a time (WeasyPrint is not thread-safe;
    ``write_reports`` uses processes).
    """

    def __init__(self, templates: Path = TEMPLATES, fetcher: TemplateFetcher | None = None):
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        self.templates = Path(templates).resolve()
        self.folder = self.templates / "report"
        self.fetcher = fetcher or TemplateFetcher(self.templates)
        self.base_url = file_url(self.folder) + "/"
        self.env = Environment(
            loader=FileSystemLoader(str(self.folder)),
            autoescape=True,  # every template here is HTML or SVG inside HTML
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # One FontConfiguration for every stylesheet and document: the shipped font is
        # registered with Fontconfig once, not once per report.
        self.font_config = FontConfiguration()
        parsed: dict[str, object] = {}
        self.stylesheets: dict[str, list] = {}
        for kind, names in STYLESHEETS.items():
            for name in names:
                if name not in parsed:
                    parsed[name] = CSS(url=file_url(self.folder / name), url_fetcher=self.fetcher,
                                       font_config=self.font_config)
            self.stylesheets[kind] = [parsed[n] for n in names]

    def html(self, kind: str, context: dict) -> str:
        return self.env.get_template(f"{kind}.html").render(context)

    def pdf(self, kind: str, context: dict) -> bytes:
        from weasyprint import HTML

        document = HTML(string=self.html(kind, context), base_url=self.base_url, url_fetcher=self.fetcher)
        return document.write_pdf(stylesheets=self.stylesheets[kind], font_config=self.font_config, **PDF_OPTIONS)

    def partnership_pdf(self, data: PartnershipReportData) -> bytes:
        return self.pdf("partnership", partnership_context(data))

    def portfolio_pdf(self, data: PortfolioData) -> bytes:
        return self.pdf("portfolio", portfolio_context(data))


_default: Renderer | None = None


def default_renderer() -> Renderer:
    global _default
    if _default is None:
        _default = Renderer()
    return _default


def render_partnership_pdf(data: PartnershipReportData, renderer: Renderer | None = None) -> bytes:
    return (renderer or default_renderer()).partnership_pdf(data)


def render_portfolio_pdf(data: PortfolioData, renderer: Renderer | None = None) -> bytes:
    return (renderer or default_renderer()).portfolio_pdf(data)


# --- writing many reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFile:
    path: Path
    ok: bool
    problems: tuple[Problem, ...] = ()
    partnership_id: str | None = None  # None for the portfolio report
    seconds: float = 0.0
    sha256: str = ""  # of the PDF written


def report_path(out: Path, round_label: str, partnership_id: str | None) -> Path:
    """``<out>/<round>/report-<round>-<id>.pdf``, or ``portfolio-<round>.pdf`` beside them."""
    name = f"portfolio-{round_label}.pdf" if partnership_id is None else f"report-{round_label}-{partnership_id}.pdf"
    return Path(out) / round_label / name


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    handler = _WarningCollector()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _write_one(renderer: Renderer, job: PartnershipReportData | PortfolioData, path: Path) -> ReportFile:
    """Render and write one report; every failure becomes a problem on its ReportFile."""
    started = time.perf_counter()
    pid = _pid(job)
    where = path.name
    try:
        with _collect_warnings() as warnings:
            pdf = renderer.partnership_pdf(job) if pid is not None else renderer.portfolio_pdf(job)
    except AssetError as exc:
        return ReportFile(path, False, (exc.problem,), pid, time.perf_counter() - started)
    except Exception as exc:  # one broken report must not stop the others
        found = problem("MG-REPORT-002", where, reason=f"{type(exc).__name__}: {exc}")
        return ReportFile(path, False, (found,), pid, time.perf_counter() - started)
    problems = tuple(problem("MG-REPORT-003", where, message=m) for m in warnings)
    try:
        write_private(path, pdf)  # a crash or Ctrl-C never leaves a half-written PDF, under any name
    except OSError as exc:
        found = problem("MG-REPORT-004", str(path), reason=exc.strerror or str(exc))
        return ReportFile(path, False, (*problems, found), pid, time.perf_counter() - started)
    return ReportFile(path, True, problems, pid, time.perf_counter() - started, hashlib.sha256(pdf).hexdigest())


_worker: Renderer | None = None


def _worker_start(templates: str) -> None:
    """Build the worker's Renderer, then tune the garbage collector for many short renders.

    A render allocates hundreds of thousands of short-lived objects; with the default
    thresholds the cyclic collector runs thousands of times per report and rescans the
    long-lived stylesheets and fonts each time. Freezing what exists after start-up and
    collecting less often saves 5-10% per report (measured).
    """
    global _worker
    interrupt.ignore_in_worker()
    _worker = Renderer(Path(templates))
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _worker_run(job: PartnershipReportData | PortfolioData, path: Path) -> ReportFile:
    assert _worker is not None
    return _write_one(_worker, job, path)


def write_reports(
    reports: Sequence[PartnershipReportData],
    out: str | Path,
    portfolio: PortfolioData | None = None,
    *,
    workers: int | None = None,
    renderer: Renderer | None = None,
    on_done: Callable[[ReportFile], None] | None = None,
) -> list[ReportFile]:
    """Write one PDF per partnership and the portfolio report under ``<out>/<round>/``.

    Returns a ReportFile per file, in input order (portfolio last). A report that fails is
    reported, not raised: the others are still written. Batches larger than a few reports go
    to a pool of ``workers`` processes (default: one per core), each with its own Renderer.
    """
    out = Path(out)
    jobs: list[tuple[PartnershipReportData | PortfolioData, Path]] = []
    results: dict[int, ReportFile] = {}
    for data in [*reports, *([portfolio] if portfolio is not None else [])]:
        pid = _pid(data)
        if not ROUND_RE.match(data.round):
            bad = Path(out) / "invalid-round"
            results[len(jobs)] = ReportFile(bad, False, (problem("MG-REPORT-001", "", value=data.round),), pid)
            jobs.append((data, bad))
            continue
        jobs.append((data, report_path(out, data.round, pid)))

    todo = [i for i in range(len(jobs)) if i not in results]
    workers = workers or os.cpu_count() or 1
    # A process costs about a second to start (imports, stylesheets, fonts): not worth it
    # for a handful of reports.
    if workers <= 1 or len(todo) < 4 * workers:
        own = renderer or default_renderer()
        for i in todo:
            results[i] = _write_one(own, *jobs[i])
            if on_done:
                on_done(results[i])
    else:
        templates = str(renderer.templates if renderer else TEMPLATES)
        # A worker that dies (it should not; WeasyPrint runs C libraries) breaks the whole
        # pool: what was not finished gets one more try in a fresh pool before it is failed.
        for attempt in (1, 2):
            todo = _run_pool(jobs, todo, results, workers, templates, on_done, last=attempt == 2)
            if not todo:
                break
    return [results[i] for i in range(len(jobs))]


def _pid(data: PartnershipReportData | PortfolioData) -> str | None:
    return data.partnership.id if isinstance(data, PartnershipReportData) else None


def _run_pool(jobs, todo, results, workers, templates, on_done, last: bool) -> list[int]:
    """Run ``todo`` in a process pool; return the indexes left undone by a broken pool."""
    unfinished = []
    # spawn, not fork: the caller may hold database connections or threads.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_worker_start, initargs=(templates,)) as pool:
        with interrupt.starting_workers():  # spawned at the first submits
            futures = {pool.submit(_worker_run, *jobs[i]): i for i in todo}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:
                    if not last:
                        unfinished.append(i)
                        continue
                    data, path = jobs[i]
                    found = problem("MG-REPORT-002", path.name, reason=f"{type(exc).__name__}: {exc}")
                    results[i] = ReportFile(path, False, (found,), _pid(data))
                if on_done:
                    on_done(results[i])
        except KeyboardInterrupt:
            # Stop at once: a report takes seconds, and a worker still starting up would not survive
            # the main process leaving first. What the workers had begun is dropped, unwritten.
            for process in list(pool._processes.values()):  # Python 3.14: pool.terminate_workers()
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            for i in todo:
                if i not in results:
                    discard_partial(jobs[i][1])
            raise
    return sorted(unfinished)


# --- from the store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredReports:
    """What ``matrixgen report`` renders for one round, read from the store."""

    round: str
    reports: tuple[PartnershipReportData, ...]
    portfolio: PortfolioData | None
    problems: tuple[Problem, ...] = ()  # unknown round or partnership, nothing to report, ...
    recordable: frozenset[str] = frozenset()  # partnership ids the office issued (others were typed)

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)


def _stored_answers(detail) -> dict[str, Answer]:
    return {a.criterion_id: Answer(a.answer, a.evidence) for a in detail.answers}


def _rescore(rubric: Rubric, given: Mapping[str, Answer]) -> Score:
    # Scoring is pure and the rubric version is the submission's own, so this is the stored score;
    # rebuilding it gives the report the full Score (met set, unanswered, next steps).
    return score_answers(rubric, {cid: rubric.match_response(a.label) if a.label else None for cid, a in given.items()})


def _report_id(info) -> str:
    """The office's id, or ``unlisted-<n>`` for a partnership known only by a typed name."""
    p = info.partnership
    return p.partnership_id or f"unlisted-{p.pk}"


def load_reports(store, round_label: str | None = None, partnership_ids: Sequence[str] = (),
                 generated_at: datetime | None = None) -> StoredReports:
    """Build the view models of a round from the store: every partnership with a current
    submission (or those in ``partnership_ids``), their earlier rounds, and the portfolio.

    ``round_label`` None means the newest round. Problems (an unknown round or id) come back in
    ``problems``; nothing is raised for them.
    """
    generated_at = generated_at or datetime.now(timezone.utc)
    known_rounds = [r for r in store.rounds() if r.label]  # newest first
    if not round_label:
        if not known_rounds:
            return StoredReports("", (), None, (problem("MG-REPORT-009", "", where=""),))
        info = known_rounds[0]
    else:
        info = next((r for r in known_rounds if r.label == round_label), None)
        if info is None:
            known = ", ".join(r.label for r in known_rounds) or "none yet"
            return StoredReports(round_label, (), None, (problem("MG-REPORT-007", "--round", value=round_label,
                                                                 known=known),))
    label = info.label
    order = [r.label for r in reversed(known_rounds)]  # oldest first
    earlier = order[: order.index(label)]

    rubrics: dict[str, Rubric | None] = {}

    def rubric_of(content_hash: str | None) -> Rubric | None:
        if content_hash and content_hash not in rubrics:
            rubrics[content_hash] = store.rubric(content_hash)
        return rubrics.get(content_hash or "")

    notes: list[Problem] = []
    current = []
    for detail in store.results(label):
        rubric = rubric_of(detail.info.rubric_hash)
        if rubric is None or detail.info.partnership is None:
            notes.append(problem("MG-REPORT-010", detail.info.file_name))
            continue
        given = _stored_answers(detail)
        current.append((detail, rubric, given, _rescore(rubric, given)))
    if not current:
        return StoredReports(label, (), None, (*notes, problem("MG-REPORT-009", "", where=f" in round {label}")))

    ids = {_report_id(d.info): d for d, *_ in current}
    unknown = [pid for pid in partnership_ids if pid not in ids]
    if unknown:
        found = tuple(problem("MG-REPORT-008", "--partnership", value=pid, round=label,
                              known=", ".join(sorted(ids, key=natural)[:20]) + (", …" if len(ids) > 20 else ""))
                      for pid in unknown)
        return StoredReports(label, (), None, (*notes, *found))

    # Earlier rounds of the partnerships in this one: current submissions only, fetched at once.
    wanted = {d.info.partnership.pk for d, *_ in current}
    past_infos = [s for s in store.submissions(current_only=True)
                  if s.round_label in earlier and s.partnership and s.partnership.pk in wanted]
    past_by_pk: dict[int, dict[str, PastRound]] = {}
    for detail in store.details([s.pk for s in past_infos]):
        rubric = rubric_of(detail.info.rubric_hash)
        if rubric is None:
            continue
        given = _stored_answers(detail)
        past_by_pk.setdefault(detail.info.partnership.pk, {})[detail.info.round_label] = PastRound(
            detail.info.round_label, _rescore(rubric, given), given)

    main_rubric = rubric_of(info.rubric_hash) or Counter(r for _, r, _, _ in current).most_common(1)[0][0]
    stage_ids = {s.id for s in main_rubric.stages}
    peers = peer_counts(main_rubric, [s for _, _, _, s in current if s.stage_id is None or s.stage_id in stage_ids])

    def partnership_of(detail) -> Partnership:
        p = detail.info.partnership
        return Partnership(_report_id(detail.info), p.name, p.region, p.sector, p.contact_name, p.contact_email)

    def status_of(detail) -> str:
        return "complete" if detail.info.status == "scored" else detail.info.status

    def shown(found: Iterable[Problem]) -> tuple[Problem, ...]:
        return tuple(x for x in found if x.severity is not Severity.NOTE)

    chosen = set(partnership_ids) if partnership_ids else set(ids)
    reports = []
    for detail, rubric, given, result in current:
        pid = _report_id(detail.info)
        if pid not in chosen:
            continue
        history = past_by_pk.get(detail.info.partnership.pk, {})
        who = ", ".join(x for x in (detail.info.respondent_name, detail.info.respondent_role) if x)
        reports.append(PartnershipReportData(
            rubric=rubric, partnership=partnership_of(detail), round=label, score=result, answers=given,
            received_at=detail.info.received_at, respondent=who, sha256=detail.info.sha256,
            status=status_of(detail), problems=shown(detail.problems),
            history=tuple(history[r] for r in earlier if r in history),
            peers=peers if rubric.content_hash == main_rubric.content_hash else None,
            generated_at=generated_at,
        ))

    previous = earlier[-1] if earlier else None
    rows = []
    for detail, _, _, result in current:
        before = past_by_pk.get(detail.info.partnership.pk, {}).get(previous) if previous else None
        rows.append(PortfolioRow(
            partnership_of(detail), result.stage_id, result.progress, status_of(detail), len(shown(detail.problems)),
            before.score.stage_id if before else None, before.score.progress if before else None))
    not_returned = None
    if info.roster_size:
        not_returned = tuple(Partnership(p.partnership_id or "", p.name, p.region, p.sector)
                             for p in store.not_returned(label))
    portfolio = PortfolioData(
        main_rubric, label, tuple(rows), previous, not_returned,
        tuple((_report_id(d.info), x) for d, *_ in current for x in shown(d.problems)), generated_at)
    recordable = frozenset(_report_id(d.info) for d, *_ in current if d.info.partnership.partnership_id)
    return StoredReports(label, tuple(reports), portfolio, tuple(notes), recordable)


def write_stored_reports(store, loaded: StoredReports, out: str | Path, *, portfolio: bool = True,
                         workers: int | None = None,
                         on_done: Callable[[ReportFile], None] | None = None) -> list[ReportFile]:
    """Write the reports ``load_reports`` found and record each partnership PDF in the store
    (``send reports`` attaches the newest one per round and partnership)."""
    files = write_reports(loaded.reports, out, loaded.portfolio if portfolio else None,
                          workers=workers, on_done=on_done)
    for f in files:
        if f.ok and f.partnership_id in loaded.recordable:
            store.record_report(loaded.round, f.partnership_id, f.path, f.sha256)
    return files


def render_missing_reports(store, round_label: str, out: str | Path, partnership_ids: Sequence[str] = (),
                           workers: int | None = None) -> list[ReportFile]:
    """Render the partnership reports a round still lacks, so that `send reports` has one for
    every current submission: none recorded, its file gone, or older than the submission."""
    recorded = store.reports(round_label)
    wanted = set(partnership_ids)
    missing = []
    for s in store.submissions(round_label, current_only=True):
        pid = s.partnership.partnership_id if s.partnership is not None else None
        if not pid or (wanted and pid not in wanted):
            continue
        have = recorded.get(pid)
        if have is None or not Path(have.path).exists() or str(have.rendered_at) < str(s.scored_at):
            missing.append(pid)
    if not missing:
        return []
    loaded = load_reports(store, round_label, missing)
    return write_stored_reports(store, loaded, out, portfolio=False, workers=workers)
