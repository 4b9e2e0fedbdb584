"""Benchmark: the web app's two costly pages, in its own process, on a store made for it.

    python benchmarks/bench_web.py [--n 1000] [--uploads 200] [--out output/bench-web]

1. The round page of a round of ``--n`` partnerships (most returned, some incomplete, rejected or
   missing): server time per request, through the whole ASGI app (session, permission, store,
   template), median and worst of 20 after one warm-up.
2. Uploading ``--uploads`` returned workbooks at once: from the POST until the job's page shows
   every file's result (staging, scoring through the batch, storing, the result page).

Goals (issue 12): the round page under 300 ms; 200 workbooks scored and shown under 5 s.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

SECRET = b"benchmark-key-not-for-production"
PASSWORD = "benchmark password"


def build(n: int, uploads: int, out: Path):
    from matrixgen.batch import score_paths
    from matrixgen.generate import Options, generate_workbooks
    from matrixgen.roster import Partnership
    from matrixgen.rubric import require_rubric
    from matrixgen.simulate import answers_for_level, fill
    from matrixgen.store import Store

    rubric = require_rubric()
    people = [Partnership(f"P{i:05d}", f"Partnership number {i}", f"Region {i % 12 + 1}", "Health care",
                          f"Contact {i}", f"contact{i}@example.org") for i in range(n + uploads)]
    store = Store.open(out / "matrixgen.db", out)
    store.open_round("2026", people, due="March 31, 2027")
    made = generate_workbooks(rubric, people, out / "issued", Options(round="2026"), SECRET)
    store.record_issue("2026", rubric, made)
    rng = random.Random(12)
    returned, later = out / "returned", out / "later"
    for folder in (returned, later):
        folder.mkdir()
    for i, g in enumerate(made):
        if i < n and rng.random() < 0.1:
            continue  # not returned
        answers = answers_for_level(rubric, rng.uniform(0, 4.5), rng)
        if rng.random() < 0.05:
            answers.pop(next(iter(answers)))  # incomplete
        (returned if i < n else later).joinpath(g.path.name).write_bytes(fill(g.path.read_bytes(), answers))
    started = time.perf_counter()
    score_paths([returned], store, rubric, SECRET, out / "archive", round_label="2026")
    print(f"setup: {n} partnerships, {len(list(returned.iterdir()))} returns scored in "
          f"{time.perf_counter() - started:.1f} s")
    return store, rubric, sorted(later.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("output/bench-web"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)

    from starlette.testclient import TestClient

    from matrixgen.web import create_app
    from matrixgen.web.accounts import Accounts

    store, rubric, later = build(args.n, args.uploads, args.out)
    Accounts(store.engine).add("bench@example.gov", PASSWORD)
    app = create_app(store, rubric=rubric, key=SECRET, data_dir=args.out)
    client = TestClient(app, headers={"accept": "text/html"}, follow_redirects=False)
    page = client.get("/signin").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/signin", data={"csrf": token, "email": "bench@example.gov", "password": PASSWORD})

    client.get("/rounds/2026")  # warm-up: templates compiled, rubric loaded
    times = []
    for _ in range(20):
        t = time.perf_counter()
        r = client.get("/rounds/2026")
        times.append(time.perf_counter() - t)
        assert r.status_code == 200 and r.text.count("/partnerships/P") >= args.n
    page_ms = {"median": 1000 * statistics.median(times), "worst": 1000 * max(times)}
    print(f"round page, {args.n} partnerships: median {page_ms['median']:.0f} ms, worst {page_ms['worst']:.0f} ms "
          f"(goal < 300 ms)")

    token = client.get("/rounds/2026/upload").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    files = [("files", (p.name, p.read_bytes(),
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")) for p in later]
    t = time.perf_counter()
    r = client.post("/rounds/2026/upload", data={"csrf": token}, files=files)
    job = int(r.headers["location"].rsplit("/", 1)[1])
    while not client.get(f"/jobs/{job}.json", headers={"accept": "application/json"}).json()["finished"]:
        time.sleep(0.05)
    result = client.get(f"/jobs/{job}")
    upload_s = time.perf_counter() - t
    assert result.text.count("badge s-scored") + result.text.count("badge s-incomplete") == len(later)
    print(f"upload of {len(later)} workbooks, scored and the result page shown: {upload_s:.2f} s (goal < 5 s)")
    app.state.web.jobs.shutdown()
    (args.out / "results.json").write_text(json.dumps({"n": args.n, "round_page_ms": page_ms,
                                                       "uploads": len(later), "upload_seconds": upload_s}, indent=2))
    store.close()


if __name__ == "__main__":
    main()
