"""How fast are partnership reports? The naive loop against ``write_reports`` in one run.

    .venv/bin/python benchmarks/bench_report.py [--reports 1000] [--naive 40] [--workers 2]
    .venv/bin/python benchmarks/bench_report.py --reports 10 --profile 10   # where the time goes

The naive loop is what one writes first: per report, render the HTML, link the stylesheets
from it and call ``HTML(string=...).write_pdf()``, so every report parses the CSS, loads the
fonts into a fresh font configuration and runs in the one process. It is timed on ``--naive``
reports and scaled to ``--reports``. ``write_reports`` then writes all ``--reports`` reports
with the parsed stylesheets and fonts reused in a pool of ``--workers`` processes.

Reports are made like real ones: the packaged rubric, seeded random answers, evidence on about
half the criteria, an earlier round for most partnerships, and the round's peer counts.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from matrixgen.report import (
    STYLESHEETS,
    Answer,
    PartnershipReportData,
    PastRound,
    Renderer,
    partnership_context,
    peer_counts,
    write_reports,
)
from matrixgen.roster import Partnership
from matrixgen.rubric import require_rubric
from matrixgen.score import score

NOTES = (
    "Quarterly meetings with 14 employers; minutes and attendance on file.",
    "Draft memorandum of understanding signed by the chamber and two colleges in March; "
    "final version goes to the board in June.",
    "Employer survey (n=38) shows vacancy time down from 61 to 44 days since 2024.",
    "We are still recruiting a second employer champion.",
)
WORDS = ("North", "South", "East", "West", "Central", "River", "Lake", "Valley")
SECTORS = ("Advanced Manufacturing", "Health Care", "Information Technology", "Logistics", "Construction")


def sample_reports(n: int, seed: int = 7) -> list[PartnershipReportData]:
    rubric = require_rubric()
    rnd = random.Random(seed)

    def answers(level: int) -> dict[str, Answer]:
        out = {}
        for c in rubric.criteria:
            index = rubric.stage(c.stage_id).index
            if index < level:
                label = "Met"
            elif index == level:
                label = rnd.choice(("Met", "In progress", "Not yet"))
            else:
                label = rnd.choice(("In progress", "Not yet", "Not yet"))
            note = rnd.choice(NOTES) if rnd.random() < 0.5 else ""
            out[c.id] = Answer(label, note)
        return out

    def scored(given: dict[str, Answer]):
        return score(rubric, {k: rubric.match_response(a.label) for k, a in given.items()})

    drafts = []
    for i in range(n):
        level = rnd.randint(0, 3)
        now = answers(level)
        history = ()
        if rnd.random() < 0.8:
            before = answers(max(0, level - rnd.choice((0, 1))))
            history = (PastRound("2025", scored(before), before),)
        partnership = Partnership(f"p{i:04d}", f"{rnd.choice(WORDS)} {rnd.choice(SECTORS)} Partnership {i}",
                                  f"Region {rnd.randint(1, 11)}", rnd.choice(SECTORS))
        drafts.append((partnership, now, scored(now), history))
    peers = peer_counts(rubric, [d[2] for d in drafts])
    generated = datetime.now(timezone.utc)
    return [
        PartnershipReportData(rubric, p, "2026", s, a, datetime(2026, 3, 2, tzinfo=timezone.utc), "Sam Doe",
                              hashlib.sha256(p.id.encode()).hexdigest(), "complete", (), h, peers, generated)
        for i, (p, a, s, h) in enumerate(drafts)
    ]


def naive_loop(reports: list[PartnershipReportData], renderer: Renderer) -> tuple[float, float]:
    """Wall and CPU seconds per report, one document at a time with nothing reused."""
    from weasyprint import HTML

    links = "".join(f'<link rel="stylesheet" href="{name}">' for name in STYLESHEETS["partnership"])
    started, cpu = time.perf_counter(), time.process_time()
    for data in reports:
        html = renderer.html("partnership", partnership_context(data)).replace("</head>", links + "</head>", 1)
        HTML(string=html, base_url=renderer.base_url).write_pdf(pdf_variant="pdf/ua-1")
    return (time.perf_counter() - started) / len(reports), (time.process_time() - cpu) / len(reports)


def profile(reports: list[PartnershipReportData], renderer: Renderer) -> int:
    """cProfile over a few renders: layout, drawing, and the steps inside them."""
    import cProfile
    import pstats
    from weasyprint import HTML

    renderer.partnership_pdf(reports[0])  # warm caches, as a worker does after its first report
    profiler = cProfile.Profile()
    profiler.enable()
    for data in reports:
        html = renderer.html("partnership", partnership_context(data))
        document = HTML(string=html, base_url=renderer.base_url, url_fetcher=renderer.fetcher).render(
            stylesheets=renderer.stylesheets["partnership"], font_config=renderer.font_config, pdf_variant="pdf/ua-1")
        document.write_pdf(pdf_variant="pdf/ua-1")
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(r"weasyprint/(__init__|document|layout/__init__|css/__init__|draw/__init__|pdf/__init__)"
                      r"\.py:\d+\((render|_render|write_pdf|layout_document|get_all_computed_styles|"
                      r"draw_page|generate_pdf)\)")
    return 0


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=40, help="reports timed in the naive loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead: profile N reports in this process and print where the time goes")
    args = parser.parse_args()

    reports = sample_reports(args.reports)
    renderer = Renderer()
    if args.profile:
        return profile(reports[: args.profile], renderer)
    naive, naive_cpu = naive_loop(reports[: args.naive], renderer)
    print(f"naive loop:     {naive:.3f} s per report, {naive_cpu:.3f} s CPU ({args.naive} reports) -> "
          f"{naive * args.reports:.0f} s for {args.reports}")

    out = Path(tempfile.mkdtemp(prefix="matrixgen-bench-"))
    try:
        before = _cpu()
        started = time.perf_counter()
        results = write_reports(reports, out, workers=args.workers)
        wall = time.perf_counter() - started
        # This process's CPU too: with one worker, write_reports renders here, not in a pool.
        children_cpu = _cpu() - before
        failed = [r for r in results if not r.ok]
        cpu = sum(r.seconds for r in results) / len(results)
        pages = sum(1 for _ in out.rglob("*.pdf"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"write_reports:  {wall:.1f} s for {len(results)} reports with {args.workers} workers "
          f"({wall / len(results):.3f} s each; {cpu:.3f} s wall per report inside a worker; {pages} files)")
    print(f"                {children_cpu / len(results):.3f} s CPU per report, workers and this process "
          f"(start-up included)")
    print(f"speed-up:       {naive * args.reports / wall:.2f}x the naive loop (wall); "
          f"{naive_cpu / (children_cpu / len(results)):.2f}x less CPU per report")
    # Other processes on the machine slow both loops down; the CPU figures are what a quiet
    # machine would show, and wall time there is about CPU per report x reports / workers.
    if failed:
        print(f"{len(failed)} reports failed, e.g. {failed[0].problems}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
