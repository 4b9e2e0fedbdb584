"""Render sample reports that exercise every page type, and the docs/ pictures of them.

    .venv/bin/python tools/report_samples.py [OUT]      # default OUT: output/report-samples

From the benchmark's realistic data it writes four partnership reports and a portfolio report:

- ``third-round``: an advanced partnership with two earlier rounds and peers (docs/report-page1.png);
- ``longest``: the longest name and respondent the store accepts, evidence on every criterion
  at length, an incomplete submission (blank answers, answers not on the scale, problems);
- ``first-round``: a baseline, nothing to compare with;
- ``early``: an early-stage partnership with an earlier round;
- the portfolio of 40 partnerships with long names, two not returned and one incomplete
  (docs/portfolio.png).

With poppler-utils installed it also writes every page as PNG beside the PDFs
(``pdftoppm -png -r 60``) for checking by eye, and refreshes the docs/ pictures (``-r 70``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_report import NOTES, sample_reports  # noqa: E402

from matrixgen.errors import problem  # noqa: E402
from matrixgen.report import Answer, PastRound, PortfolioData, PortfolioRow, write_reports  # noqa: E402
from matrixgen.roster import Partnership  # noqa: E402
from matrixgen.score import score  # noqa: E402

LONG_NAME = ("Greater Wabash River Valley Regional Advanced Manufacturing, Logistics and Skilled "
             "Trades Employer Sector Partnership Consortium of Indiana")[:150]
LONG_RESPONDENT = ("Dr. Maria-Alejandra Fernández-Whitcombe, Executive Director of Workforce Strategy "
                   "and Employer Partnerships")


def longest(base):
    """Every criterion with a long note; two blank, two not on the scale, problems to list."""
    rubric = base.rubric
    answers, found = {}, []
    for i, c in enumerate(rubric.criteria):
        note = " ".join(NOTES[(i + k) % len(NOTES)] for k in range(3))
        answers[c.id] = Answer(base.answers[c.id].label, note, base.answers[c.id].label or "", f"Assessment!E{9 + i}")
    for cid, raw in (("SD-2", ""), ("GM-1", ""), ("OC-2", "Mostly"), ("SC-1", "yes")):
        row = 9 + [c.id for c in rubric.criteria].index(cid)
        answers[cid] = Answer(None, answers[cid].evidence, raw, f"Assessment!E{row}")
        code = "MG-READ-021" if not raw else "MG-READ-022"
        found.append(problem(code, f"Assessment!E{row}", id=cid, value=raw, choices="Met, In progress, Not yet"))
    result = score(rubric, {k: rubric.match_response(a.label) if a.label else None for k, a in answers.items()})
    partnership = Partnership("longest", LONG_NAME, "Region 11", "Advanced Manufacturing")
    return replace(base, partnership=partnership, answers=answers, score=result, status="incomplete",
                   problems=tuple(found), respondent=LONG_RESPONDENT)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "output" / "report-samples"
    reports = sample_reports(40, seed=11)
    advanced = reports[0]
    older = replace(advanced.history[-1], round="2024", score=score(advanced.rubric, {
        k: advanced.rubric.match_response("Not yet") for k in advanced.answers}))
    named = [
        ("third-round", replace(advanced, partnership=replace(advanced.partnership, id="third-round"),
                                history=(older, *advanced.history))),
        ("longest", longest(replace(reports[1], history=reports[1].history or (reports[2].history[0],)))),
        ("first-round", replace(reports[2], partnership=replace(reports[2].partnership, id="first-round"),
                                history=(), peers=None)),
        ("early", replace(reports[3], partnership=replace(reports[3].partnership, id="early"))),
    ]
    rows = []
    for i, r in enumerate(reports):
        p = r.partnership if i % 7 else replace(r.partnership, name=f"{LONG_NAME[:100]} {i}")
        rows.append(PortfolioRow(p, r.score.stage_id, r.score.progress, "incomplete" if i == 5 else r.status,
                                 2 if i == 5 else 0,
                                 r.history[-1].score.stage_id if r.history else None,
                                 r.history[-1].score.progress if r.history else None))
    missing = (Partnership("late-1", "Harbor Logistics Partnership", "Region 4", "Logistics"),
               Partnership("late-2", "Prairie Health Careers Partnership", "Region 9", "Health Care"))
    found = tuple((rows[5].partnership.id, problem("MG-READ-021", "Assessment!E12", id="SD-1",
                                                   choices="Met, In progress, Not yet")) for _ in range(2))
    portfolio = PortfolioData(advanced.rubric, "2026", tuple(rows), "2025", missing, found,
                              advanced.generated_at, roster_size=len(rows) + len(missing))
    results = write_reports([r for _, r in named], out, portfolio, workers=1)
    for r in results:
        print(("ok   " if r.ok else "FAIL ") + str(r.path), *r.problems)
    if not all(r.ok for r in results):
        return 1
    if shutil.which("pdftoppm"):
        for r in results:
            subprocess.run(["pdftoppm", "-png", "-r", "60", str(r.path), str(r.path.with_suffix(""))], check=True)
        docs = ROOT / "docs"
        for pdf, name in ((results[0].path, "report-page1"), (results[-1].path, "portfolio")):
            subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                            str(pdf), str(docs / name)], check=True)
            print(f"ok   docs/{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
