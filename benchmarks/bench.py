"""Benchmark: matrixgen against the script a user would write, same machine, same run.

    python benchmarks/bench.py [--n 1000] [--out output/bench] [--steps generate,score,report]

Each step runs in its own process tree. For every step it prints wall time, files per second,
peak memory and how many times faster matrixgen's step is than each script, and writes the same
as JSON to <out>/results.json.

Peak memory is the largest sum of the resident memory (RSS) of the step's process and all its
descendants (worker processes, the `matrixgen` command and its workers), sampled every 20 ms while
the step runs: a peak shorter than that can be missed, and pages that forked workers share with
their parent count once in each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = "benchmark-key-not-for-production"


SAMPLE_SECONDS = 0.02


def largest_single_rss_mb() -> float:
    """Peak resident memory of this process or of its largest finished child, in MB: what the
    benchmark reported before it summed the process tree (kept in the JSON to compare)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024  # Linux reports KiB


class TreeMemory:
    """The peak of the summed RSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self.processes_at_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            total, counted = 0, 0
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break  # the step has ended
            for proc in tree:
                try:
                    total += proc.memory_info().rss
                    counted += 1
                except psutil.Error:
                    continue  # ended between the listing and the reading
            if total > self.peak:
                self.peak, self.processes_at_peak = total, counted
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak / 1048576


# --- the steps, each run in a child process --------------------------------------------------------


def roster(n: int) -> list:
    from matrixgen.roster import Partnership

    return [Partnership(f"P{i:05d}", f"Partnership {i}", f"Region {i % 12 + 1}", "Health care") for i in range(n)]


def step_generate(n: int, work: Path) -> dict:
    from matrixgen import generate
    from matrixgen.rubric import require_rubric

    rubric = require_rubric()
    partnerships = roster(n)
    options = generate.Options(round="2026", generated_at="2026-01-15T10:00:00Z")
    out = work / "issued"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    generate.generate_workbooks(rubric, partnerships, out, options, SECRET.encode())
    return {"seconds": time.perf_counter() - t, "files": n}


def step_generate_naive(n: int, work: Path) -> dict:
    """One full openpyxl build and save per partnership: what a straightforward script does."""
    from dataclasses import replace

    from matrixgen import generate, identity
    from matrixgen.identity import Identity
    from matrixgen.rubric import require_rubric

    rubric = require_rubric()
    options = generate.Options(round="2026", generated_at="2026-01-15T10:00:00Z")
    out = work / "issued-naive"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    for i in range(n):
        ident = Identity(rubric.id, rubric.version, rubric.content_hash, f"P{i:05d}", f"Partnership {i}",
                         f"Region {i % 12 + 1}", "Health care", "2026", options.generated_at)
        ident = replace(ident, signature=identity.sign(ident.values(), SECRET.encode()))
        generate.build_workbook(rubric, ident, options, generic=False).save(out / f"P{i:05d}.xlsx")
    return {"seconds": time.perf_counter() - t, "files": n}


def step_fill(n: int, work: Path) -> dict:
    """Setup, not compared: every issued workbook filled by a simulated respondent."""
    import random

    from matrixgen.rubric import require_rubric
    from matrixgen.simulate import answers_for_level, fill, retype

    rubric = require_rubric()
    if len(list((work / "issued").glob("*.xlsx"))) != n:  # --steps score alone: the workbooks to fill
        step_generate(n, work)
    out = work / "returned"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(2026)
    t = time.perf_counter()
    for path in sorted((work / "issued").glob("*.xlsx")):
        answers = answers_for_level(rubric, rng.uniform(0, 4.5), rng)
        if rng.random() < 0.2:
            answers = {cid: (retype(label, rng), ev) for cid, (label, ev) in answers.items()}
        (out / path.name).write_bytes(fill(path.read_bytes(), answers))
    return {"seconds": time.perf_counter() - t, "files": n}


def answers_in(frame, rubric) -> dict[str, object] | None:
    """The answers of one sheet read by pandas: find the row holding the ID and Response headers,
    then each criterion id under it and its response. None when the sheet has no such row."""
    import pandas as pd

    for i, row in frame.iterrows():
        values = [str(v).strip() for v in row.tolist()]
        if "Response" in values and "ID" in values:
            id_col, resp_col = values.index("ID"), values.index("Response")
            answers = {}
            for _, r in frame.iloc[i + 1:].iterrows():
                cid = r.iloc[id_col]
                if isinstance(cid, str) and rubric.criterion(cid.strip()):
                    raw = r.iloc[resp_col]
                    answers[cid.strip()] = None if pd.isna(raw) else raw
            return answers
    return None


def read_assessment_calamine(path: Path, rubric) -> dict[str, object]:
    """What a competent user writes: pandas reads the one sheet that holds the answers, with the
    calamine engine (pandas 2.2+)."""
    import pandas as pd

    return answers_in(pd.read_excel(path, sheet_name="Assessment", header=None, engine="calamine"), rubric) or {}


def read_all_sheets_openpyxl(path: Path, rubric) -> dict[str, object]:
    """The first script anyone writes: pandas' default engine reads every sheet. The engine is
    named, because pandas' default is to become calamine and this row would then measure that."""
    import pandas as pd

    for frame in pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl").values():
        found = answers_in(frame, rubric)
        if found is not None:
            return found
    return {}


NAIVE_READERS = {"score-pandas": read_assessment_calamine, "score-pandas-openpyxl": read_all_sheets_openpyxl}


def score_with(step: str, work: Path) -> dict:
    """Score every returned file with a pandas script; the answers and stages go to a JSON file
    that ``check_scores_equal`` compares with the store."""
    from matrixgen.rubric import require_rubric
    from matrixgen.score import score

    read = NAIVE_READERS[step]
    rubric = require_rubric()
    results = {}
    t = time.perf_counter()
    for path in sorted((work / "returned").glob("*.xlsx")):
        raw = read(path, rubric)
        answers = {cid: rubric.match_response(v) for cid, v in raw.items()}
        s = score(rubric, answers)
        results[path.name] = {"stage": s.stage_id, "progress": round(s.progress, 6),
                              "answers": {cid: (r.label if r else None) for cid, r in answers.items()}}
    seconds = time.perf_counter() - t
    (work / f"{step}.json").write_text(json.dumps(results, sort_keys=True))
    return {"seconds": seconds, "files": len(results)}


def step_score(n: int, work: Path) -> dict:
    """`matrixgen score` end to end, as staff run it: process start, store, archive, summaries."""
    from matrixgen.store import Store

    store_dir = work / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    store_dir.mkdir(parents=True)
    store = Store.open(store_dir / "bench.db", store_dir)  # the round is open, as `round open` leaves it
    store.open_round("2026", roster(n))
    store.close()
    cli = Path(sys.executable).with_name("matrixgen")
    cmd = [str(cli), "score", str(work / "returned"), "--db", str(store_dir / "bench.db"),
           "--out", str(store_dir / "scores"), "-s"]
    env = {**os.environ, "MATRIXGEN_HOME": str(store_dir)}
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr)
    return {"seconds": seconds, "files": len(list((work / "returned").glob("*.xlsx")))}


def _report_ids(work: Path, n: int) -> list[str]:
    from matrixgen.store import Store

    store = Store.open(work / "store" / "bench.db")
    ids = sorted(s.partnership.partnership_id for s in store.submissions("2026", current_only=True))[:n]
    store.close()
    return ids


def step_report(n: int, work: Path) -> dict:
    """`matrixgen report` end to end for n partnerships of the scored round (no portfolio)."""
    ids = _report_ids(work, n)
    out = work / "reports"
    shutil.rmtree(out, ignore_errors=True)
    cli = Path(sys.executable).with_name("matrixgen")
    cmd = [str(cli), "report", "--db", str(work / "store" / "bench.db"), "--round", "2026", "--out", str(out),
           "--no-portfolio", "-s"]
    for pid in ids:
        cmd += ["--partnership", pid]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return {"seconds": seconds, "files": len(list(out.rglob("*.pdf")))}


def step_report_naive(n: int, work: Path) -> dict:
    """One HTML(string=...).write_pdf() per report: the same HTML, nothing parsed once or shared."""
    from weasyprint import HTML

    from matrixgen.report import STYLESHEETS, Renderer, load_reports, partnership_context
    from matrixgen.store import Store

    store = Store.open(work / "store" / "bench.db")
    loaded = load_reports(store, "2026", _report_ids(work, n))
    renderer = Renderer()
    links = "".join(f'<link rel="stylesheet" href="{name}">' for name in STYLESHEETS["partnership"])
    out = work / "reports-naive"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    for data in loaded.reports:
        html = renderer.html("partnership", partnership_context(data)).replace("</head>", links + "</head>", 1)
        HTML(string=html, base_url=renderer.base_url).write_pdf(out / f"{data.partnership.id}.pdf",
                                                                pdf_variant="pdf/ua-1")
    seconds = time.perf_counter() - t
    store.close()
    return {"seconds": seconds, "files": len(loaded.reports)}


STEPS = {
    "generate": step_generate,
    "generate-naive": step_generate_naive,
    "fill": step_fill,
    "score": step_score,
    "score-pandas": lambda n, work: score_with("score-pandas", work),
    "score-pandas-openpyxl": lambda n, work: score_with("score-pandas-openpyxl", work),
    "report": step_report,
    "report-naive": step_report_naive,
}
# (matrixgen, the scripts it is compared with (the first is the baseline), setup run before them)
PAIRS = [
    ("generate", ("generate-naive",), None),
    ("score", ("score-pandas", "score-pandas-openpyxl"), "fill"),
    ("report", ("report-naive",), None),
]


def run_child(step: str, n: int, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--n", str(n), "--work", str(work)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "MATRIXGEN_SECRET": SECRET})
    memory = TreeMemory(child.pid)
    out, err = child.communicate()
    peak = memory.stop()
    if child.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(peak_tree_rss_mb=peak, processes_at_peak=memory.processes_at_peak)
    return result


def check_scores_equal(work: Path, step: str) -> int:
    """A script and matrixgen must agree on every answer and stage, or the race means nothing."""
    from matrixgen.store import Store

    naive = json.loads((work / f"{step}.json").read_text())
    store = Store.open(work / "store" / "bench.db")
    details = store.results("2026")
    store.close()
    ours = {d.info.file_name: d for d in details}
    if set(ours) != set(naive):
        raise SystemExit(f"{step}: different files: {sorted(set(ours) ^ set(naive))[:5]}")
    for name, expected in naive.items():
        d = ours[name]
        answers = {a.criterion_id: a.answer or None for a in d.answers}
        overall = d.score()
        if answers != expected["answers"] or (overall.stage_id or None) != expected["stage"]:
            raise SystemExit(f"{step}: {name}: matrixgen and the script disagree")
    return len(naive)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="workbooks generated and scored")
    ap.add_argument("--report-n", type=int, default=None, help="reports rendered (default: --n)")
    ap.add_argument("--out", type=Path, default=Path("output/bench"))
    ap.add_argument("--steps", default=",".join(pair[0] for pair in PAIRS))
    ap.add_argument("--child")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()

    if args.child:
        result = STEPS[args.child](args.n, args.work)
        result["largest_single_rss_mb"] = largest_single_rss_mb()
        print(json.dumps(result))
        return

    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    wanted = args.steps.split(",")
    rows, agreed = [], []
    for fast, scripts, setup in PAIRS:
        if fast not in wanted:
            continue
        n = args.report_n or args.n if fast == "report" else args.n
        if setup:
            run_child(setup, n, work)
        ours = run_child(fast, n, work)
        ours.update(step=fast, files_per_second=ours["files"] / ours["seconds"])
        rows.append(ours)
        for script in scripts:
            theirs = run_child(script, n, work)
            # How many times faster matrixgen is than this script; the first script is the baseline.
            theirs.update(step=script, files_per_second=theirs["files"] / theirs["seconds"],
                          matrixgen_speedup=theirs["seconds"] / ours["seconds"])
            ours.setdefault("speedup_vs_naive", theirs["matrixgen_speedup"])
            if fast == "score":
                agreed.append((script, check_scores_equal(work, script)))
            rows.append(theirs)

    header = (f"{'step':<22}{'files':>7}{'wall s':>9}{'files/s':>10}{'peak MB':>9}{'procs':>7}"
              f"{'matrixgen':>11}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = f"{r['matrixgen_speedup']:.1f}x" if "matrixgen_speedup" in r else ""
        print(f"{r['step']:<22}{r['files']:>7}{r['seconds']:>9.2f}{r['files_per_second']:>10.1f}"
              f"{r['peak_tree_rss_mb']:>9.0f}{r['processes_at_peak']:>7}{ratio:>11}")
    print("\npeak MB: the largest sum of RSS over the step's processes (procs: how many at that peak);\n"
          "matrixgen: how many times faster matrixgen's step is than the script in that row")
    for script, files in agreed:
        print(f"score: matrixgen and {script} agree on every answer and stage of {files} files")
    load = os.getloadavg()
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "load_average_after": load}
    (args.out / "results.json").write_text(json.dumps({"n": args.n, "machine": machine, "steps": rows}, indent=2))
    print(f"{machine['cpus']} CPUs, Python {machine['python']}, {machine['date']}, load average after "
          f"{load[0]:.1f}; JSON: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
