"""PDF reports: what a partnership and the state read. Built from the real rubric and scorer."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError
from pypdf import PdfReader

from matrixgen import report
from matrixgen.errors import problem
from matrixgen.report import (
    TEMPLATES,
    Answer,
    AssetError,
    PartnershipReportData,
    PastRound,
    PortfolioData,
    PortfolioRow,
    Renderer,
    TemplateFetcher,
    peer_counts,
    write_reports,
)
from matrixgen.report.render import OPTIONAL_SPEEDUP
from matrixgen.roster import Partnership
from matrixgen.rubric import require_rubric, rubric_from_canonical
from matrixgen.score import score

RUBRIC = require_rubric()
GENERATED = datetime(2026, 3, 9, 15, 30, tzinfo=timezone.utc)
SHA = "3f7a9c0e1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"
ACME = Partnership("acme-mfg", "Acme Valley Manufacturing Alliance", "Region 7", "Advanced Manufacturing",
                   "Dana Ruiz", "dana@example.org")
OTHER = Partnership("riverbend-health", "Riverbend Health Careers Collaborative", "Region 2", "Health Care")

HOSTILE = {
    "EE-1": '<img src="file:///etc/passwd">',
    "EE-2": "<link rel=stylesheet href=http://127.0.0.1:9/x.css>",
    "OC-1": "</td><style>body{background:url(http://127.0.0.1:9/bg.png)}</style>",
    "OC-2": "url(file:///etc/hostname) {{ rubric.title }} {% if x %}",
    "NC-1": '<svg><image href="file:///etc/passwd"/></svg> &amp; <script>alert(1)</script>',
}


@pytest.fixture(autouse=True)
def weasyprint_warnings():
    """Any WeasyPrint warning or error fails the test: it logs problems instead of raising."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.getMessage().startswith(OPTIONAL_SPEEDUP):  # a machine without libharfbuzz-subset0
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
        out[c.id] = Answer(levels.get(c.stage_id, default), evidence.get(c.id.replace("-", "_"), ""))
    return out


def scored(given: dict[str, Answer]):
    return score(RUBRIC, {cid: RUBRIC.match_response(a.label) if a.label else None for cid, a in given.items()})


def make_report(given: dict[str, Answer] | None = None, *, partnership: Partnership = ACME, round_label: str = "2026",
                history: tuple[PastRound, ...] = (), peers=None, status: str = "complete", problems=()) -> PartnershipReportData:
    given = given if given is not None else answers({"exploring": "Met", "emerging": "Met", "operational": "In progress"})
    return PartnershipReportData(
        rubric=RUBRIC, partnership=partnership, round=round_label, score=scored(given), answers=given,
        received_at=datetime(2026, 3, 2, 9, 12, tzinfo=timezone.utc), respondent="Dana Ruiz", sha256=SHA,
        status=status, problems=tuple(problems), history=history, peers=peers, generated_at=GENERATED,
    )


def past(round_label: str, given: dict[str, Answer]) -> PastRound:
    return PastRound(round_label, scored(given), given)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Text with all whitespace removed: extraction breaks lines wherever the layout did."""
    return re.sub(r"\s+", "", text)


# --- the partnership report -------------------------------------------------------------------


def test_report__partnership__shows_header_stage_progress_and_next_steps(renderer):
    given = answers({"exploring": "Met", "emerging": "Met", "operational": "In progress"},
                    EE_3="Our chair is the plant manager at Acme Forge.")
    data = make_report(given)
    text = text_of(renderer.partnership_pdf(data))

    for expected in ("Acme Valley Manufacturing Alliance", "Region 7", "Advanced Manufacturing", "2026",
                     "March 2, 2026", "Dana Ruiz", RUBRIC.title):
        assert expected in text
    assert "Emerging: every Exploring and Emerging criterion is met." in text
    # 6 Met + 7 In progress (half) + 4 Not yet = 9.5 of 17 points
    assert data.score.stage_id == "emerging"
    assert "56%" in text and "9.5 of 17 points" in text
    # Next steps: every Operational criterion, with the partnership's own note
    assert "Next steps" in text
    assert "Employer Driven/Industry Engagement: towards Operational" in text
    assert flat("Is led by industry as demonstrated by private sector members playing leadership roles") in flat(text)
    assert flat("Your note: Our chair is the plant manager at Acme Forge.") in flat(text)
    # Footer on every page: page x of y, rubric id/version, sha256 prefix, generated-at
    pages = PdfReader(io.BytesIO(renderer.partnership_pdf(data))).pages
    for number, page in enumerate(pages, start=1):
        page_text = page.extract_text()
        assert f"Page {number} of {len(pages)}" in page_text
        assert SHA[:12] in page_text and SHA[:13] not in page_text
        assert "indiana-sector-partnership-stages" in page_text and "2017-12-06" in page_text
        assert "2026-03-09 15:30 UTC" in page_text


def test_report__partnership__two_to_four_letter_pages(renderer):
    long_notes = {c.id.replace("-", "_"): "We met monthly with employers and partners. " * 6 for c in RUBRIC.criteria}
    for given in (answers(), answers({"exploring": "Met"}, **long_notes)):
        reader = PdfReader(io.BytesIO(renderer.partnership_pdf(make_report(given))))
        assert 2 <= len(reader.pages) <= 4
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (612, 792)


def test_report__matrix__every_criterion_with_answer_and_reached_stage(renderer):
    given = answers({"exploring": "Met", "emerging": "In progress"})
    given["EE-2"] = Answer("Met")
    given["SC-1"] = Answer(None)
    text = flat(text_of(renderer.partnership_pdf(make_report(given))))
    for c in RUBRIC.criteria:
        assert flat(c.id) in text
    assert flat("● Met · EE-1") in text
    assert flat("◐ In progress · OC-2") in text
    assert flat("○ Not yet · SD-2") in text
    assert flat("? Unanswered · SC-1") in text
    assert flat("▲ ● Met · EE-2") in text  # employer engagement reached Emerging
    assert flat("Employer Driven/Industry EngagementReached: Emerging") in text


def test_report__unanswered_criteria__listed_as_incomplete(renderer):
    given = answers({"exploring": "Met"})
    for cid in ("SD-1", "GM-1", "SC-1"):
        given[cid] = Answer(None)
    found = (problem("MG-REPORT-003", "Assessment!D14", message="example"),)
    text = text_of(renderer.partnership_pdf(make_report(given, status="incomplete", problems=found)))
    assert "This submission is incomplete" in text
    assert "3 criteria were unanswered: SD-1, GM-1, SC-1." in text
    assert flat("1 problem was found in the returned workbook; it is listed at the end") in flat(text)
    # The list itself closes the report, so page 1 keeps its matrix.
    last = PdfReader(io.BytesIO(renderer.partnership_pdf(make_report(given, status="incomplete", problems=found))))
    assert flat("Problems found in the returned workbook Assessment!D14: the PDF renderer reported: example") \
        in flat(last.pages[-1].extract_text())
    assert "MG-REPORT-003" in text


def test_report__complete_submission__no_problem_section(renderer):
    text = text_of(renderer.partnership_pdf(make_report(answers({"exploring": "Met"}))))
    assert "incomplete" not in text


def test_report__one_round__baseline_note(renderer):
    text = text_of(renderer.partnership_pdf(make_report()))
    assert "Progress since last round" in text
    assert "baseline" in text
    assert "Newly met" not in text


def test_report__two_rounds__progress_since_last_round(renderer):
    before = answers({"exploring": "Met", "emerging": "In progress"})
    before["GM-1"] = Answer("Met")
    now = answers({"exploring": "Met", "emerging": "Met", "operational": "In progress"})
    data = make_report(now, history=(past("2025", before),))
    text = text_of(renderer.partnership_pdf(data))
    assert "baseline" not in text
    assert flat("Since round 2025: overall stage Exploring → Emerging (advanced); overall progress 29% → 56%.") in flat(text)
    assert report.percent(scored(before).progress) == 29
    assert "Newly met: EE-2, OC-2, NC-1, SV-1" in text
    assert "No longer met: GM-1" in text
    assert flat("Employer Driven/Industry Engagement Exploring → Emerging ↑ 38% → 63%") in flat(text)
    assert flat("Geographical Make-up Operational → Not yet ↓ 100% → 50%") in flat(text)
    # The section starts page 2, so its heading is never stranded under the matrix.
    pages = PdfReader(io.BytesIO(renderer.partnership_pdf(data))).pages
    assert "Progress since last round" in pages[1].extract_text()


def test_report__earlier_round_of_another_rubric_version__compared_where_it_can(renderer):
    canonical = RUBRIC.canonical()
    canonical["rubric"]["version"] = "2016-01-01"
    canonical["dimensions"] = [d for d in canonical["dimensions"] if d["id"] != "sustainability"]
    old = rubric_from_canonical(canonical)
    before_answers = {c.id: Answer("Met") for c in old.criteria}
    before = PastRound("2016", score(old, {cid: old.match_response("Met") for cid in before_answers}), before_answers)
    text = text_of(renderer.partnership_pdf(make_report(history=(before,))))
    assert flat("Sustainability and Continuous Improvement — → Not yet — → 0%") in flat(text)
    assert flat("Geographical Make-up Operational → Not yet ↓ 100% → 50%") in flat(text)


def test_report__three_rounds__chart_has_every_round_as_text_alternative(renderer):
    history = (past("2024", answers()), past("2025", answers({"exploring": "Met"})))
    context = report.partnership_context(make_report(history=history))
    assert [d["label"] for d in context["since"]["chart"]["dots"]] == ["2024", "2025", "2026"]
    assert context["since"]["chart"]["alt"] == "Overall progress by round: 2024 0%; 2025 12%; 2026 56%."
    pdf = renderer.partnership_pdf(make_report(history=history))
    assert "Overall progress by round: 2024 0%; 2025 12%; 2026 56%." in figure_alts(pdf)


def test_report__peers_below_five__section_absent(renderer):
    assert peer_counts(RUBRIC, [scored(answers())] * 4) is None
    text = text_of(renderer.partnership_pdf(make_report(peers=None)))
    assert "Among peers" not in text
    # Counts that add up to fewer than five are not shown even when passed in.
    text = text_of(renderer.partnership_pdf(make_report(peers={None: 1, "emerging": 3})))
    assert "Among peers" not in text


def test_report__peers__counts_only_with_own_stage_marked(renderer):
    scores = [scored(answers({"exploring": "Met"}))] * 3 + [scored(answers({"exploring": "Met", "emerging": "Met"}))] * 4
    counts = peer_counts(RUBRIC, scores)
    assert counts == {None: 0, "exploring": 3, "emerging": 4, "operational": 0, "sustainable": 0}
    pdf = renderer.partnership_pdf(make_report(peers=counts))
    text = text_of(pdf)
    assert "Among peers" in text and "7 partnerships in round 2026" in text
    assert "Partnerships in this round by overall stage: Not yet at a stage 0; Exploring 3; Emerging 4 "\
           "(this partnership); Operational 0; Sustainable 0." in figure_alts(pdf)


def test_report__partnership__contains_nothing_of_another_partnership(renderer):
    mine = make_report(answers({"exploring": "Met"}, EE_1="Acme's own note"), peers={None: 2, "exploring": 4, "emerging": 1})
    theirs = make_report(answers({"exploring": "Met"}, EE_1="Riverbend's confidential note"), partnership=OTHER)
    pdf = renderer.partnership_pdf(mine)
    text = text_of(pdf)
    assert "Acme's own note" in text
    for secret in (OTHER.name, "Riverbend", "confidential", OTHER.id):
        assert secret not in text
        assert secret.encode() not in pdf
    assert OTHER.name in text_of(renderer.partnership_pdf(theirs))


# --- safety -----------------------------------------------------------------------------------


def test_report__hostile_evidence__rendered_literally_nothing_fetched():
    fetcher = TemplateFetcher(record=True)
    renderer = Renderer(fetcher=fetcher)
    loaded = list(fetcher.requests)
    assert loaded and all(url.startswith(TEMPLATES.resolve().as_uri() + "/") for url in loaded)
    fetcher.requests.clear()

    evidence = {cid.replace("-", "_"): text for cid, text in HOSTILE.items()}
    pdf = renderer.partnership_pdf(make_report(answers({"exploring": "Met"}, **evidence)))

    assert fetcher.requests == []  # stylesheets and fonts were parsed once; the report asked for nothing
    text = flat(text_of(pdf))
    for hostile in HOSTILE.values():
        assert flat(hostile) in text
    assert b"root:x:0:0" not in pdf


def test_report__hostile_text_everywhere__escaped_in_html(renderer):
    evil = Partnership("evil", '<b onload="x">Evil</b> & "Co"', "<i>r</i>", "</style>")
    html = renderer.html("partnership", report.partnership_context(make_report(partnership=evil)))
    assert "<b onload" not in html and "&lt;b onload=&#34;x&#34;&gt;Evil&lt;/b&gt; &amp; &#34;Co&#34;" in html
    assert "</style>" not in html.split("<body", 1)[1]


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.css",
    "https://example.org/font.ttf",
    "ftp://example.org/x",
    "file://otherhost/share/x.css",
    TEMPLATES.resolve().as_uri() + "/../pyproject.toml",
    TEMPLATES.resolve().as_uri() + "/report/..%2F..%2Fpyproject.toml",
])
def test_fetcher__outside_templates__refused(url):
    with pytest.raises(AssetError) as caught:
        TemplateFetcher().fetch(url)
    assert caught.value.problem.code == "MG-REPORT-006"


def test_fetcher__templates_and_data_urls__served():
    fetcher = TemplateFetcher()
    css = fetcher.fetch((TEMPLATES / "report" / "fonts.css").resolve().as_uri())
    assert b"@font-face" in css.read() and css.content_type == "text/css"
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"


def test_renderer__missing_own_asset__fails_loudly(tmp_path):
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    (copy / "fonts" / "LiberationSans-Bold.ttf").unlink()
    with pytest.raises(AssetError) as caught:
        Renderer(copy)
    assert caught.value.problem.code == "MG-REPORT-005"
    assert "fonts/LiberationSans-Bold.ttf" in caught.value.problem.message


def test_renderer__jinja__autoescape_and_strict_undefined(renderer):
    assert renderer.env.autoescape is True
    assert renderer.env.undefined is StrictUndefined
    context = report.partnership_context(make_report())
    del context["since"]
    with pytest.raises(UndefinedError):
        renderer.html("partnership", context)


# --- accessibility ----------------------------------------------------------------------------


def structure(pdf: bytes):
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    found: list[tuple[str, object]] = []

    def walk(node) -> None:
        node = node.get_object()
        if isinstance(node, dict) and "/S" in node:
            found.append((node["/S"], node))
        kids = node.get("/K") if isinstance(node, dict) else None
        if kids is None:
            return
        for kid in kids if isinstance(kids, list) else [kids]:
            kid = kid.get_object()
            if isinstance(kid, dict):
                walk(kid)

    walk(root["/StructTreeRoot"])
    return reader, root, found


def figure_alts(pdf: bytes) -> list[str]:
    return [str(node["/Alt"]) for tag, node in structure(pdf)[2] if tag == "/Figure" and "/Alt" in node]


def test_report__accessibility__title_lang_tagged_headings_tables_alt(renderer):
    history = (past("2025", answers({"exploring": "Met"})),)
    pdf = renderer.partnership_pdf(make_report(history=history, peers={None: 2, "exploring": 3, "emerging": 1}))
    reader, root, found = structure(pdf)
    assert reader.metadata.title == f"{RUBRIC.title}: {ACME.name}, round 2026"
    assert root["/Lang"] == "en"
    assert root["/MarkInfo"]["/Marked"] == True  # noqa: E712 - a pypdf BooleanObject
    assert root["/ViewerPreferences"]["/DisplayDocTitle"] == True  # noqa: E712
    assert b"pdfuaid:part" in root["/Metadata"].get_object().get_data()

    tags = [tag for tag, _ in found]
    headings = [int(t[2]) for t in tags if re.fullmatch(r"/H[1-6]", t)]
    assert headings[0] == 1 and headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(headings, headings[1:]))  # no skipped levels
    assert tags.count("/Table") >= 3 and "/TH" in tags and "/TD" in tags
    alts = figure_alts(pdf)
    assert len(alts) == tags.count("/Figure") == 2  # progress chart and peers chart, both described
    assert all(alt.endswith(".") for alt in alts)


def test_report__fonts__only_shipped_fonts_embedded(renderer):
    pdf = renderer.partnership_pdf(make_report(answers({"exploring": "Met"}, EE_1="naïve café – “quoted” ½")))
    reader = PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            names.add(str(font["/BaseFont"]).split("+", 1)[1])
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor  # embedded
    assert names == {"Report-Sans", "Report-Sans-Bold", "Report-Symbols"}


# --- the portfolio ----------------------------------------------------------------------------


def portfolio_data(n: int = 12, roster: bool = True) -> PortfolioData:
    levels = [{}, {"exploring": "Met"}, {"exploring": "Met", "emerging": "Met"},
              {"exploring": "Met", "emerging": "Met", "operational": "Met"}]
    regions, sectors = ("North", "South", "East"), ("Health Care", "Logistics")
    rows, found = [], []
    for i in range(n):
        p = Partnership(f"p{i:02d}", f"Partnership {chr(65 + i)}", regions[i % 3], sectors[i % 2])
        now = scored(answers(levels[i % 4]))
        before = scored(answers(levels[(i + 1) % 4])) if i % 3 else None
        status = "incomplete" if i == 5 else "complete"
        if status != "complete":
            found += [(p.id, problem("MG-REPORT-003", "Assessment!D9", message="x"))] * 2
        rows.append(PortfolioRow(p, now.stage_id, now.progress, status, 2 if i == 5 else 0,
                                 before.stage_id if before else None, before.progress if before else None))
    missing = (Partnership("late", "Latecomer Partnership", "North"),) if roster else None
    return PortfolioData(RUBRIC, "2026", tuple(rows), "2025", missing, tuple(found), GENERATED)


def test_portfolio__counts_equal_input(renderer):
    data = portfolio_data(12)
    assert data.counts_by_stage == {None: 3, "exploring": 3, "emerging": 3, "operational": 3, "sustainable": 0}
    assert sum(sum(c.values()) for c in data.counts_by("region").values()) == 12
    assert {k: sum(v.values()) for k, v in data.counts_by("sector").items()} == {"Health Care": 6, "Logistics": 6}
    # rows with a previous round: i % 3 != 0; the stage there is one level up, except 3 -> 0
    assert {r.partnership.id for r in data.advanced} == {"p11", "p07"}
    assert len(data.slipped) == 6

    text = text_of(renderer.portfolio_pdf(data))
    assert "Round 2026: 12 partnerships" in text
    for row in data.rows:
        assert row.partnership.name in text
    assert flat("Not yet at a stage 3 25%") in flat(text)
    assert flat("Operational 3 25%") in flat(text) and flat("Sustainable 0 0%") in flat(text)
    assert "Latecomer Partnership" in text
    assert "MG-REPORT-003" in text
    assert flat("incomplete (2 problems)") in flat(text)


def test_portfolio__landscape_pages_and_no_roster_note(renderer):
    pdf = renderer.portfolio_pdf(portfolio_data(6, roster=False))
    reader = PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (792, 612)
    assert "roster of this round is not known" in text_of(pdf)


# --- writing many reports ---------------------------------------------------------------------


def test_write_reports__files_per_partnership_and_portfolio(tmp_path, renderer):
    reports = [make_report(), make_report(partnership=OTHER)]
    results = write_reports(reports, tmp_path, portfolio_data(4), workers=1, renderer=renderer)
    assert [r.ok for r in results] == [True, True, True]
    assert [r.path.relative_to(tmp_path).as_posix() for r in results] == [
        "2026/report-2026-acme-mfg.pdf", "2026/report-2026-riverbend-health.pdf", "2026/portfolio-2026.pdf"]
    assert [r.partnership_id for r in results] == ["acme-mfg", "riverbend-health", None]
    assert all(r.path.read_bytes().startswith(b"%PDF-1.7") and not r.problems for r in results)
    assert not list(tmp_path.rglob("*.part"))


def test_write_reports__one_failure__others_still_written(tmp_path, renderer):
    broken = make_report(partnership=Partnership("broken", "Broken Partnership"))
    object.__setattr__(broken, "score", None)  # not a score: rendering fails
    bad_round = make_report(partnership=OTHER, round_label="../../etc")
    results = write_reports([make_report(), broken, bad_round], tmp_path, workers=1, renderer=renderer)
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].problems[0].code == "MG-REPORT-002"
    assert results[2].problems[0].code == "MG-REPORT-001"
    assert results[0].path.exists() and not results[1].path.exists()
    assert sorted(p.name for p in tmp_path.rglob("*.pdf")) == ["report-2026-acme-mfg.pdf"]


def test_write_reports__process_pool__same_files(tmp_path):
    reports = [make_report(partnership=Partnership(f"p{i}", f"Partnership {i}", "North", "IT")) for i in range(8)]
    done = []
    results = write_reports(reports, tmp_path, workers=2, on_done=done.append)
    assert all(r.ok and not r.problems for r in results)
    assert sorted(r.path.name for r in done) == sorted(f"report-2026-p{i}.pdf" for i in range(8))
    assert "Partnership 3" in text_of((tmp_path / "2026" / "report-2026-p3.pdf").read_bytes())


class DiesOnce(Partnership):
    """A partnership whose first render kills the worker process, as a crash in C code would."""

    marker: str = ""

    def __getattribute__(self, name):
        if name == "name" and not os.path.exists(object.__getattribute__(self, "marker")):
            Path(object.__getattribute__(self, "marker")).touch()
            os._exit(3)
        return object.__getattribute__(self, name)


def test_write_reports__worker_dies__unfinished_reports_retried(tmp_path):
    killer = DiesOnce("killer", "Killer Partnership")
    object.__setattr__(killer, "marker", str(tmp_path / "died"))
    reports = [make_report(partnership=Partnership(f"p{i}", f"Partnership {i}")) for i in range(7)]
    reports.insert(2, make_report(partnership=killer))
    results = write_reports(reports, tmp_path / "out", workers=2)
    assert (tmp_path / "died").exists()
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]
    assert len(list((tmp_path / "out" / "2026").glob("*.pdf"))) == 8


# --- helpers ----------------------------------------------------------------------------------


def test_percent__rounds_half_up():
    assert [report.percent(x) for x in (0, 0.125, 0.5, 0.625, 1)] == [0, 13, 50, 63, 100]


def test_abbreviate__cuts_at_a_word_with_an_ellipsis():
    text = RUBRIC.criterion("SD-1").text
    short = report.abbreviate(text, 60)
    assert len(short) <= 60 and short.endswith("…") and text.startswith(short[:-1])
    assert report.abbreviate("Begin objectives", 60) == "Begin objectives"
