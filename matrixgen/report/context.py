"""View models -> template contexts: everything a page shows, computed so templates stay simple."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ..rubric import Rubric
from ..score import rule_sentence, stage_label
from .model import (
    NOT_YET, PEERS_MIN, SYMBOLS, Answer, PartnershipReportData, PortfolioData, PortfolioRow, _change, _iso,
    _label, _legend, _response, _stage_index, abbreviate, answer_kind, format_day, format_moment, natural, percent,
)

MATRIX_TEXT = 72  # characters of criterion text in a matrix cell; the full text is in the rubric


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
