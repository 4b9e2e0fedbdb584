"""PDF reports: what a partnership reads. Built from the real rubric and scorer."""

from __future__ import annotations

import io
import shutil

import pytest
from jinja2 import StrictUndefined, UndefinedError
from pypdf import PdfReader
from weasyprint.formatting_structure import boxes

from matrixgen import report
from matrixgen.errors import problem
from matrixgen.report import uastyle
from matrixgen.report import TEMPLATES, Answer, AssetError, PastRound, Renderer, TemplateFetcher, peer_counts
from matrixgen.roster import Partnership
from matrixgen.rubric import rubric_from_canonical
from matrixgen.score import score
from reportkit import (  # noqa: F401 - weasyprint_warnings and renderer are fixtures
    LONG_NAME, OTHER, RUBRIC, SHA, answers, figure_alts, flat, make_report, pages_of, past, renderer, scored,
    text_of, weasyprint_warnings,
)

HOSTILE = {
    "EE-1": '<img src="file:///etc/passwd">',
    "EE-2": "<link rel=stylesheet href=http://127.0.0.1:9/x.css>",
    "OC-1": "</td><style>body{background:url(http://127.0.0.1:9/bg.png)}</style>",
    "OC-2": "url(file:///etc/hostname) {{ rubric.title }} {% if x %}",
    "NC-1": '<svg><image href="file:///etc/passwd"/></svg> &amp; <script>alert(1)</script>',
}


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
    # Next steps: every Operational criterion; the partnership's own note is with the full wording
    assert "Next steps" in text
    assert "Employer Driven/Industry Engagement: towards Operational" in text
    assert flat("Is led by industry as demonstrated by private sector members playing leadership roles") in flat(text)
    assert flat("◐ In progress · EE-3 · Operational") in flat(text)
    assert flat("Evidence: Our chair is the plant manager at Acme Forge.") in flat(text)
    # Footer on every page: page x of y, rubric id/version, sha256 prefix, generated-at
    pages = PdfReader(io.BytesIO(renderer.partnership_pdf(data))).pages
    for number, page in enumerate(pages, start=1):
        page_text = page.extract_text()
        assert f"Page {number} of {len(pages)}" in page_text
        assert SHA[:12] in page_text and SHA[:13] not in page_text
        assert "indiana-sector-partnership-stages" in page_text and "2017-12-06" in page_text
        assert "2026-03-09 15:30 UTC" in page_text


def test_report__partnership__three_to_five_letter_pages(renderer):
    long_notes = {c.id.replace("-", "_"): "We met monthly with employers and partners. " * 6 for c in RUBRIC.criteria}
    for given in (answers(), answers({"exploring": "Met"}, **long_notes)):
        reader = PdfReader(io.BytesIO(renderer.partnership_pdf(make_report(given))))
        assert 3 <= len(reader.pages) <= 5
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


def test_report__blank_and_off_scale_answers__each_named_with_its_cell(renderer):
    given = answers({"exploring": "Met"})
    given["SD-1"] = Answer(None, "", "", "Assessment!E14")
    given["GM-1"] = Answer(None, "", "  ", "Assessment!E19")
    given["SC-1"] = Answer(None, "", "Mett", "Assessment!E23")
    found = (problem("MG-READ-022", "Assessment!E23", value="Mett", id="SC-1", choices="Met, In progress, Not yet"),)
    pdf = renderer.partnership_pdf(make_report(given, status="incomplete", problems=found))
    text = flat(text_of(pdf))
    assert "This submission is incomplete" in text_of(pdf)
    assert flat("2 criteria were left blank: SD-1 (Assessment!E14), GM-1 (Assessment!E19).") in text
    assert flat("1 answer is not on the scale (Met, In progress, Not yet): SC-1 (Assessment!E23) reads “Mett”.") in text
    assert flat("? Not on the scale · SC-1") in text and flat("? Unanswered · SD-1") in text
    assert flat("1 problem was found in the returned workbook; it is listed at the end") in text
    # The list itself closes the report, so page 1 keeps its matrix.
    assert flat("Problems found in the returned workbook Assessment!E23: 'Mett' is not an answer for SC-1") \
        in flat(pages_of(pdf)[-1])


def test_report__only_off_scale_answers__no_blank_sentence(renderer):
    given = answers({"exploring": "Met"})
    given["SC-1"] = Answer(None, "", "yes")
    text = flat(text_of(renderer.partnership_pdf(make_report(given, status="incomplete"))))
    assert flat("1 answer is not on the scale (Met, In progress, Not yet): SC-1 reads “yes”.") in text
    assert flat("left blank") not in text


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


def test_report__peers__on_the_page_of_progress_since_last_round(renderer):
    counts = {None: 2, "exploring": 3, "emerging": 4, "operational": 1, "sustainable": 0}
    for history in ((), (past("2025", answers({"exploring": "Met"})),)):
        pages = pages_of(renderer.partnership_pdf(make_report(history=history, peers=counts)))
        page = next(p for p in pages if "Among peers" in p)
        assert "Progress since last round" in page and "Next steps" in page


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




# --- the whole wording and tidy pages ---------------------------------------------------------


def test_report__full_wording__every_criterion_with_answer_and_evidence(renderer):
    notes = {c.id.replace("-", "_"): f"Note for {c.id}: minutes on file." for c in RUBRIC.criteria[::2]}
    given = answers({"exploring": "Met", "emerging": "In progress"}, **notes)
    given["SV-2"] = Answer(None, "", "", "Assessment!E20")
    text = flat(text_of(renderer.partnership_pdf(make_report(given))))
    appendix = text[text.index(flat("The rubric in full")):]
    for c in RUBRIC.criteria:
        answer = given[c.id].label or "Unanswered"
        symbol = report.SYMBOLS[report.answer_kind(RUBRIC.match_response(answer) if given[c.id].label else None)]
        line = flat(f"{symbol} {answer} · {c.id} · {RUBRIC.stage(c.stage_id).label} {c.text}")
        assert line in appendix, c.id
        if given[c.id].evidence:
            assert flat(f"{c.text} Evidence: Note for {c.id}: minutes on file.") in appendix
    assert len(RUBRIC.criteria[-1].text) > report.MATRIX_TEXT  # the matrix alone would not show it whole


def test_report__evidence_line_breaks__kept(renderer):
    given = answers({"exploring": "Met"}, EE_1="First line\nSecond line\n\nAfter a blank line")
    pages = pages_of(renderer.partnership_pdf(make_report(given)))
    appendix = "\n".join(pages)[("\n".join(pages)).index("The rubric in full"):]
    lines = [line.strip() for line in appendix.splitlines()]
    assert "Evidence: First line" in lines and "Second line" in lines and "After a blank line" in lines


def text_lines(box) -> list[float]:
    """The distinct baselines (y) of the text inside a laid-out box."""
    found = set()
    stack = [box]
    while stack:
        b = stack.pop()
        if isinstance(b, boxes.TextBox) and b.text.strip():
            found.add(round(b.position_y, 1))
        stack.extend(getattr(b, "children", ()))
    return sorted(found)


def test_report__running_header__one_line_with_a_long_name_shortened(renderer):
    data = make_report(partnership=Partnership("long", LONG_NAME, "Region 11", "Logistics"))
    context = report.partnership_context(data)
    assert context["running"]["right"].endswith("…") and LONG_NAME.startswith(context["running"]["right"][:-1])
    document = renderer.document("partnership", context)
    assert len(document.pages) >= 2
    for page in document.pages[1:]:
        header = next(b for b in page._page_box.children
                      if isinstance(b, boxes.MarginBox) and b.at_keyword == "@top-left")
        assert len(text_lines(header)) == 1
    assert context["running"]["right"] in pages_of(renderer.partnership_pdf(data))[1]


def test_report__long_respondent__wraps_top_aligned_with_its_neighbours(renderer):
    who = "Dr. Maria-Alejandra Fernández-Whitcombe, Executive Director of Workforce Strategy and Partnerships"
    document = renderer.document("partnership", report.partnership_context(make_report(respondent=who)))
    def under(box, found: bool):
        found = found or (isinstance(box, boxes.TableBox) and box.element.get("class") == "facts")
        if found and isinstance(box, boxes.TableCellBox) and box.element_tag == "td":
            yield box
        for child in getattr(box, "children", ()):
            yield from under(child, found)

    cells = list(under(document.pages[0]._page_box, False))
    firsts = {round(text_lines(c)[0], 1) for c in cells}
    assert len(cells) == 5 and len(firsts) == 1  # every value starts on the same line
    assert max(len(text_lines(c)) for c in cells) in (2, 3)  # the respondent wraps, but not to 4 lines


def test_report__matrix__on_page_one_with_the_longest_name_and_an_incomplete_submission(renderer):
    given = answers({"exploring": "Met"})
    for cid in ("SD-1", "GM-1"):
        given[cid] = Answer(None, "", "", "Assessment!E14")
    given["SC-1"] = Answer(None, "", "Mostly", "Assessment!E23")
    found = [problem("MG-READ-021", "Assessment!E14", id="SD-1", choices="Met, In progress, Not yet")] * 4
    data = make_report(given, partnership=Partnership("long", LONG_NAME, "Region 11", "Logistics"),
                       respondent="Dr. Maria-Alejandra Fernández-Whitcombe, Executive Director of Workforce Strategy",
                       status="incomplete", problems=found)
    first = flat(pages_of(renderer.partnership_pdf(data))[0])
    last_row = RUBRIC.dimensions[-1]
    assert flat(last_row.label) in first and flat(f"· {RUBRIC.cells(last_row.id, 'sustainable')[0].id}") in first


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
    (copy / "fonts" / "ReportSans-Bold.ttf").unlink()
    with pytest.raises(AssetError) as caught:
        Renderer(copy)
    assert caught.value.problem.code == "MG-REPORT-005"
    assert "fonts/ReportSans-Bold.ttf" in caught.value.problem.message


def test_renderer__jinja__autoescape_and_strict_undefined(renderer):
    assert renderer.env.autoescape is True
    assert renderer.env.undefined is StrictUndefined
    context = report.partnership_context(make_report())
    del context["since"]
    with pytest.raises(UndefinedError):
        renderer.html("partnership", context)


# --- helpers ----------------------------------------------------------------------------------


def test_percent__rounds_half_up():
    assert [report.percent(x) for x in (0, 0.125, 0.5, 0.625, 1)] == [0, 13, 50, 63, 100]


def test_abbreviate__cuts_at_a_word_with_an_ellipsis():
    text = RUBRIC.criterion("SD-1").text
    short = report.abbreviate(text, 60)
    assert len(short) <= 60 and short.endswith("…") and text.startswith(short[:-1])
    assert report.abbreviate("Begin objectives", 60) == "Begin objectives"


# --- parsing ----------------------------------------------------------------------------------


def _layout(document) -> list[tuple]:
    """Every box of every page: its kind, element, place, size and text, to compare two layouts."""
    found = []

    def walk(box) -> None:
        found.append((type(box).__name__, getattr(box, "element_tag", None), round(box.position_x, 3),
                      round(box.position_y, 3), round(box.width or 0, 3), round(box.height or 0, 3),
                      getattr(box, "text", None)))
        for child in getattr(box, "children", ()):
            walk(child)

    for page in document.pages:
        walk(page._page_box)
    return found


def _html5_document(renderer: Renderer, kind: str, context: dict):
    from weasyprint import HTML

    html = HTML(string=renderer.html(kind, context), base_url=renderer.base_url, url_fetcher=renderer.fetcher)
    return html.render(stylesheets=renderer.stylesheets[kind], font_config=renderer.font_config,
                       **report.render.PDF_OPTIONS)


def test_renderer__report_markup__parsed_as_xml_laid_out_as_the_html5_parser_does(renderer):
    from test_report_portfolio import portfolio_data

    data = make_report(answers({"exploring": "Met", "emerging": "In progress"}, EE_1="line one\nline two"),
                       partnership=Partnership("x", LONG_NAME, "Region 1", "Logistics"),
                       history=(past("2025", answers({"exploring": "Met"})),), status="incomplete",
                       problems=(problem("MG-READ-010", "Matrix!E7", value="Mett"),))
    for kind, context in (("partnership", report.partnership_context(data)),
                          ("portfolio", report.portfolio_context(portfolio_data()))):
        html = renderer.html(kind, context)
        assert isinstance(renderer.parse(html), report.render.ParsedHTML), kind  # the fast path, not the fallback
        fast = renderer.document(kind, context)
        assert _layout(fast) == _layout(_html5_document(renderer, kind, context)), kind


def test_renderer__control_characters_in_evidence__dropped_not_drawn(renderer):
    data = make_report(answers({"exploring": "Met"}, EE_1="pasted from a form\x01 with\x1b escapes\ufffe and\x9f all"))
    html = renderer.html("partnership", report.partnership_context(data))
    assert "pasted from a form with escapes and all" in html
    assert isinstance(renderer.parse(html), report.render.ParsedHTML)
    assert "pastedfromaformwithescapesandall" in flat(text_of(renderer.partnership_pdf(data)))  # no warning either


def test_renderer__template_not_well_formed__html5_parser_lays_it_out_the_same(renderer, tmp_path):
    own = tmp_path / "templates"
    shutil.copytree(TEMPLATES, own)
    page = own / "report" / "partnership.html"
    page.write_text(page.read_text().replace("<br/>", "<br>"))  # as an office might edit it
    theirs = Renderer(own)
    data = make_report(answers({"exploring": "Met"}, EE_1="line one\nline two"))
    html = theirs.html("partnership", report.partnership_context(data))
    assert "<br>" in html and not isinstance(theirs.parse(html), report.render.ParsedHTML)
    context = report.partnership_context(data)
    assert _layout(theirs.document("partnership", context)) == _layout(renderer.document("partnership", context))


def test_renderer__palette__written_into_every_stylesheet(renderer):
    for name in dict.fromkeys(n for names in report.render.STYLESHEETS.values() for n in names):
        text = renderer.stylesheet_text(name)
        assert "var(" not in text, name
    assert "border-left: 4pt solid #1f3a5f;" in renderer.stylesheet_text("report.css")  # --brand


def test_renderer__name_not_in_palette__left_for_weasyprint(renderer, tmp_path):
    own = tmp_path / "templates"
    shutil.copytree(TEMPLATES, own)
    css = own / "report" / "report.css"
    css.write_text(css.read_text() + "\n.kicker { color: var(--no-such-colour, #000); }\n")
    assert "var(--no-such-colour, #000)" in Renderer(own).stylesheet_text("report.css")


def test_renderer__lean_ua_stylesheet__in_use_with_list_markers_kept(renderer):
    # Fails after a WeasyPrint upgrade that changed its UA stylesheet or renamed
    # HTML._ua_stylesheets: reports are still right then, only slower (see report/uastyle.py).
    from weasyprint.html import UA

    assert renderer.lean_ua
    context = report.partnership_context(make_report(answers({"exploring": "Met"})))
    html = renderer.parse(renderer.html("partnership", context))
    assert html._ua_stylesheets() == [uastyle.lean_ua_sheet()]
    lean = uastyle.lean_ua_text(UA)
    assert "footnote-call" not in lean and "note-callback" not in lean
    assert "\nli::marker {" in lean and "\n::marker {" not in lean
    assert uastyle.lean_ua_text(UA.replace("\n::marker {", "\n::marker, x {")) is None
    # The next steps are a bulleted list: each item still has its marker.
    found = []

    def walk(box):
        if isinstance(box, boxes.TextBox) and box.element_tag == "li::marker":
            found.append(box.text)
        for child in getattr(box, "children", ()):
            walk(child)

    for page in renderer.document("partnership", context).pages:
        walk(page._page_box)
    assert found == ["• "] * len(RUBRIC.dimensions)  # one Emerging criterion to go in each dimension
