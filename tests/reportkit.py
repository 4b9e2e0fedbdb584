"""Shared builders for the report tests: answers, view models, PDF text and structure."""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone

import pikepdf
import pytest
from pypdf import PdfReader

from matrixgen.report import Answer, PartnershipReportData, PastRound, Renderer, is_subset_fallback
from matrixgen.roster import Partnership
from matrixgen.rubric import require_rubric
from matrixgen.score import score

RUBRIC = require_rubric()
GENERATED = datetime(2026, 3, 9, 15, 30, tzinfo=timezone.utc)
SHA = "3f7a9c0e1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"
ACME = Partnership("acme-mfg", "Acme Valley Manufacturing Alliance", "Region 7", "Advanced Manufacturing",
                   "Dana Ruiz", "dana@example.org")
OTHER = Partnership("riverbend-health", "Riverbend Health Careers Collaborative", "Region 2", "Health Care")
LONG_NAME = ("Greater Wabash River Valley Regional Advanced Manufacturing, Logistics and Skilled Trades "
             "Employer Sector Partnership Consortium of Southern Indiana and Kentucky")[:150]


@pytest.fixture(autouse=True)
def weasyprint_warnings():
    """Any WeasyPrint warning or error fails the test: it logs problems instead of raising.

    Except its notice that HarfBuzz's subsetter is missing: the PDF is the same, only slower to
    make, and a fresh machine lacks the library."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not is_subset_fallback(record.getMessage()):
                records.append(record)

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    assert not records, [r.getMessage() for r in records]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def answers(levels: dict[str, str] | None = None, default: str = "Not yet", **evidence: str) -> dict[str, Answer]:
    """Answer per criterion: ``levels`` maps stage id -> label; ``evidence`` maps id (with _) -> text."""
    levels = levels or {}
    out = {}
    for c in RUBRIC.criteria:
        label = levels.get(c.stage_id, default)
        out[c.id] = Answer(label, evidence.get(c.id.replace("-", "_"), ""), label)
    return out


def scored(given: dict[str, Answer]):
    return score(RUBRIC, {cid: RUBRIC.match_response(a.label) if a.label else None for cid, a in given.items()})


def make_report(given: dict[str, Answer] | None = None, *, partnership: Partnership = ACME, round_label: str = "2026",
                history: tuple[PastRound, ...] = (), peers=None, status: str = "complete", problems=(),
                respondent: str = "Dana Ruiz") -> PartnershipReportData:
    given = given if given is not None else answers({"exploring": "Met", "emerging": "Met", "operational": "In progress"})
    return PartnershipReportData(
        rubric=RUBRIC, partnership=partnership, round=round_label, score=scored(given), answers=given,
        received_at=datetime(2026, 3, 2, 9, 12, tzinfo=timezone.utc), respondent=respondent, sha256=SHA,
        status=status, problems=tuple(problems), history=history, peers=peers, generated_at=GENERATED,
    )


def past(round_label: str, given: dict[str, Answer]) -> PastRound:
    return PastRound(round_label, scored(given), given)


def pages_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    return "\n".join(pages_of(pdf))


def flat(text: str) -> str:
    """Text with all whitespace removed: extraction breaks lines wherever the layout did."""
    return re.sub(r"\s+", "", text)


def structure(pdf: bytes) -> list[dict]:
    """Every structure element reachable from the root, in tree order: its tag, its parent's
    tag, and the attributes the tests read (/Alt, /ID, the /Headers of a table cell)."""
    found: list[dict] = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        def walk(node, parent: str | None) -> None:
            tag = str(node["/S"]) if "/S" in node else None
            if tag:
                attrs = node.get("/A")
                headers = attrs.get("/Headers") if isinstance(attrs, pikepdf.Dictionary) else None
                found.append({"tag": tag, "parent": parent, "alt": str(node["/Alt"]) if "/Alt" in node else None,
                              "id": str(node["/ID"]) if "/ID" in node else None,
                              "headers": [str(h) for h in headers] if headers is not None else None})
            kids = node.get("/K")
            for kid in kids if isinstance(kids, pikepdf.Array) else () if kids is None else (kids,):
                if isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
                    walk(kid, tag)

        walk(doc.Root.StructTreeRoot, None)
    return found


def figure_alts(pdf: bytes) -> list[str]:
    return [e["alt"] for e in structure(pdf) if e["tag"] == "/Figure" and e["alt"] is not None]
