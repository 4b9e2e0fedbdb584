"""Render sample reports (and the docs/ pictures of them) from the benchmark's realistic data.

    .venv/bin/python tools/report_samples.py [OUT]      # default OUT: output/report-samples

Writes three partnership reports (an advanced partnership with an earlier round, an early one,
a first-round baseline) and a portfolio report of 40 partnerships; with poppler-utils
installed it also refreshes docs/report-page1.png and docs/portfolio.png (pdftoppm -r 70).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_report import sample_reports  # noqa: E402

from matrixgen.report import PortfolioData, PortfolioRow, write_reports  # noqa: E402
from matrixgen.roster import Partnership  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "output" / "report-samples"
    reports = sample_reports(40, seed=11)
    rows = tuple(
        PortfolioRow(r.partnership, r.score.stage_id, r.score.progress, r.status, len(r.problems),
                     r.history[-1].score.stage_id if r.history else None,
                     r.history[-1].score.progress if r.history else None)
        for r in reports
    )
    missing = (Partnership("late-1", "Harbor Logistics Partnership", "Region 4", "Logistics"),
               Partnership("late-2", "Prairie Health Careers Partnership", "Region 9", "Health Care"))
    portfolio = PortfolioData(reports[0].rubric, "2026", rows, "2025", missing, (), reports[0].generated_at)
    results = write_reports(reports[:3], out, portfolio, workers=1)
    for r in results:
        print(("ok   " if r.ok else "FAIL ") + str(r.path), *r.problems)
    if shutil.which("pdftoppm") and all(r.ok for r in results):
        docs = ROOT / "docs"
        for pdf, name in ((results[0].path, "report-page1"), (results[-1].path, "portfolio")):
            subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                            str(pdf), str(docs / name)], check=True)
            print(f"ok   docs/{name}.png")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
