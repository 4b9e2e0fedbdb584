"""``matrixgen report``: reports of a round read from a real store (generate -> fill -> score)."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from conftest import ALPHA, BETA, KEY, RUBRIC, upto
from matrixgen.report import render as report_render
from matrixgen.batch import score_paths
from matrixgen.cli import main
from matrixgen.generate import Options, generate_workbooks
from matrixgen.report import load_reports
from matrixgen.roster import Partnership
from matrixgen.simulate import fill
from matrixgen.store import Store

GAMMA = Partnership("SE-HC", "Ohio River Health Careers", "Southeast", "Health Care", "Cy", "cy@example.org")


def text_of(path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def returned_round(store: Store, tmp_path, label: str, roster, answers: dict[str, dict]) -> None:
    made = generate_workbooks(RUBRIC, roster, tmp_path / f"wb-{label}", Options(round=label), KEY)
    store.open_round(label, roster)
    store.record_issue(label, RUBRIC, made)
    inbox = tmp_path / f"inbox-{label}"
    inbox.mkdir()
    for m in made:
        if m.partnership.id in answers:
            (inbox / m.path.name).write_bytes(fill(m.path.read_bytes(), answers[m.partnership.id]))
    score_paths([inbox], store, RUBRIC, KEY, tmp_path / "archive", workers=0)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def two_rounds(home):
    """2025: both partnerships at Exploring. 2026: NE-IT reaches Emerging with notes, WC-AG
    leaves three cells blank, SE-HC is on the roster but returns nothing."""
    store = Store.open(home / "data" / "matrixgen.db")
    returned_round(store, home, "2025", [ALPHA, BETA], {"NE-IT": upto("exploring"), "WC-AG": upto("exploring")})
    alpha = upto("emerging")
    alpha["NC-2"] = ("In progress", "Our convener <b>role</b> is shared with the chamber")
    beta = upto("exploring")
    for cid in ("SD-1", "GM-1", "SC-1"):
        beta[cid] = ("", "")
    returned_round(store, home, "2026", [ALPHA, BETA, GAMMA], {"NE-IT": alpha, "WC-AG": beta})
    return store


def run(*args):
    return CliRunner().invoke(main, ["report", *args])


def test_cli_report__newest_round__a_pdf_per_partnership_and_the_portfolio(home, two_rounds):
    result = run("-s")
    assert result.exit_code == 0, result.output
    folder = home / "data" / "reports" / "2026"  # under the data directory, as everything matrixgen writes
    assert result.stdout == f"Round 2026: wrote 3 of 3 report(s) to {folder}\n"
    assert result.stderr == "Round 2026 (the newest open round; --round chooses another)\n"
    assert sorted(p.name for p in folder.iterdir()) == [
        "portfolio-2026.pdf", "report-2026-NE-IT.pdf", "report-2026-WC-AG.pdf"]

    alpha = text_of(folder / "report-2026-NE-IT.pdf")
    assert ALPHA.name in alpha and BETA.name not in alpha and GAMMA.name not in alpha
    assert flat("Since round 2025: overall stage Exploring → Emerging (advanced)") in flat(alpha)
    assert flat("Your note: Our convener <b>role</b> is shared with the chamber") in flat(alpha)
    beta = text_of(folder / "report-2026-WC-AG.pdf")
    assert "3 criteria were unanswered: SD-1, GM-1, SC-1." in beta
    portfolio = text_of(folder / "portfolio-2026.pdf")
    assert "Round 2026: 2 partnerships" in portfolio and GAMMA.name in portfolio

    recorded = two_rounds.reports("2026")
    assert set(recorded) == {"NE-IT", "WC-AG"}
    for pid, info in recorded.items():
        data = (folder / f"report-2026-{pid}.pdf").read_bytes()
        assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_cli_report__chosen_round_and_partnership_without_portfolio(home, two_rounds):
    result = run("--round", "2025", "--partnership", "WC-AG", "--no-portfolio", "--out", "pdf", "-s")
    assert result.exit_code == 0, result.output
    assert result.output == "Round 2025: wrote 1 of 1 report(s) to pdf/2025\n"
    assert [p.name for p in (home / "pdf" / "2025").iterdir()] == ["report-2025-WC-AG.pdf"]
    text = text_of(home / "pdf" / "2025" / "report-2025-WC-AG.pdf")
    assert "baseline" in text


def test_cli_report__unknown_round__exit_2_with_the_known_rounds(home, two_rounds):
    result = run("--round", "2024", "-s")
    assert result.exit_code == 2
    assert result.stderr == ("error: --round: there is no round '2024' (known: 2026, 2025); open it with "
                             "`matrixgen round open 2024 --roster roster.csv` [MG-STORE-006]\n")
    assert not (home / "data" / "reports").exists()


def test_cli_report__unknown_partnership__exit_1_and_nothing_written(home, two_rounds):
    result = run("--partnership", "NE-IT", "--partnership", "XX-1", "-s")
    assert result.exit_code == 1
    assert result.stderr.endswith("error: --partnership: partnership 'XX-1' has no current submission in round 2026; "
                                  "check the id (known ids: NE-IT, WC-AG) [MG-REPORT-008]\n")
    assert not (home / "data" / "reports").exists()


def test_cli_report__invalid_round_label__usage_error(home, two_rounds):
    result = run("--round", "../x")
    assert result.exit_code == 2
    assert "Invalid value for '--round': '../x'" in result.stderr


def test_cli_report__no_store__refused_and_none_made(home):
    result = run("-s")
    assert result.exit_code == 1 and "[MG-STORE-005]" in result.stderr
    assert not (home / "data").exists()


def test_cli_report__round_without_returns__exit_1(home):
    Store.open(home / "data" / "matrixgen.db").open_round("2026", [ALPHA])
    result = run("-s")
    assert result.exit_code == 1
    assert result.stderr.endswith("error: there are no submissions to report on in round 2026; score some returned "
                                  "workbooks first [MG-REPORT-009]\n")


def test_cli_report__one_report_fails__exit_1_the_others_written(home, two_rounds, monkeypatch):
    real = report_render.partnership_context

    def flaky(data):
        if data.partnership.id == "WC-AG":
            raise RuntimeError("disk on fire")
        return real(data)

    monkeypatch.setattr(report_render, "partnership_context", flaky)
    result = run("-s")
    assert result.exit_code == 1
    assert result.stdout == (f"Round 2026: wrote 2 of 3 report(s) to {home / 'data' / 'reports' / '2026'}; "
                             "1 failed: report-2026-WC-AG.pdf\n")
    assert "error: report-2026-WC-AG.pdf: the report could not be rendered: RuntimeError: disk on fire;" \
        in result.stderr
    assert set(two_rounds.reports("2026")) == {"NE-IT"}
    assert (home / "data" / "reports" / "2026" / "portfolio-2026.pdf").exists()


def test_load_reports__view_models_match_the_store(two_rounds):
    loaded = load_reports(two_rounds, "2026")
    assert loaded.ok and loaded.round == "2026"
    alpha, beta = sorted(loaded.reports, key=lambda r: r.partnership.id)
    assert alpha.score.stage_id == "emerging" and beta.score.stage_id == "exploring"
    assert [h.round for h in alpha.history] == ["2025"] and alpha.history[0].score.stage_id == "exploring"
    assert beta.status == "incomplete" and beta.score.unanswered == ("SD-1", "GM-1", "SC-1")
    assert alpha.peers is None  # two partnerships: too few to show counts
    stored = {d.info.partnership.partnership_id: d for d in two_rounds.results("2026")}
    assert alpha.sha256 == stored["NE-IT"].info.sha256
    assert alpha.score.progress == pytest.approx(stored["NE-IT"].score().progress)
    portfolio = loaded.portfolio
    assert portfolio.counts_by_stage == {None: 0, "exploring": 1, "emerging": 1, "operational": 0, "sustainable": 0}
    assert [p.id for p in portfolio.not_returned] == ["SE-HC"]
    assert portfolio.previous_round == "2025" and [r.partnership.id for r in portfolio.advanced] == ["NE-IT"]
    assert loaded.recordable == {"NE-IT", "WC-AG"}
