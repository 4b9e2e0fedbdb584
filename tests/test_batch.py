from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from conftest import ALPHA, BAD_KINDS, BETA, CROWD, KEY, RUBRIC, _rubric_v2, all_answers, bad_file, upto
from matrixgen import batch as batch_module
from matrixgen.batch import reading as batch_reading
from matrixgen.store import schema as store_module
from matrixgen.store import submissions as store_submissions
from matrixgen.batch import score_paths
from matrixgen.simulate import fill
from matrixgen.store import Store
from matrixgen.summary import safe_text, write_outputs


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "data" / "matrixgen.db")
    s.open_round("2026", [ALPHA, BETA, *CROWD])  # the round the conftest workbooks were issued for
    yield s
    s.close()


def run(inbox, store, tmp_path, **kw):
    return score_paths([inbox], store, RUBRIC, KEY, tmp_path / "data" / "archive", workers=0, **kw)


def by_file(result):
    return {o.file: o for o in result.outcomes}


def put(folder, name, data, mtime=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def counts_in_db(store):
    with store.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (store_module.submissions, store_module.answers, store_module.scores, store_module.problems)}


# --- a mixed folder ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_batch__bad_file__rejected_with_its_code_and_the_rest_scored(tmp_path, store, issued, kind):
    inbox = tmp_path / "inbox"
    put(inbox, "good.xlsx", fill(issued["beta"], upto("emerging")))
    name, data, code = bad_file(kind, issued)
    put(inbox, name, data)
    result = run(inbox, store, tmp_path)
    outcomes = by_file(result)
    assert outcomes[name].status == "rejected"
    assert outcomes[name].problems[-1].code == code
    assert outcomes["good.xlsx"].status == "scored"
    assert outcomes["good.xlsx"].overall_stage == "Emerging"
    stored = store.find(outcomes[name].sha256) if outcomes[name].sha256 else None
    if data:  # every file that has bytes is stored and archived, rejected or not
        assert stored is not None and stored.status == "rejected"
        assert os.path.exists(stored.archive_path)


def test_batch__mixed_folder__every_file_accounted_for(tmp_path, store, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "alpha.xlsx", fill(issued["alpha"], all_answers()))
    incomplete = all_answers()
    incomplete["EE-2"] = (None, "")
    put(inbox / "sub", "beta.xlsx", fill(issued["beta"], incomplete))
    put(inbox, "blank.xlsx", fill(issued["blank"], upto("exploring"), typed={"Partnership name": "Lakeshore"}))
    put(inbox, "~$alpha.xlsx", b"lock")
    put(inbox, ".hidden.xlsx", b"x")
    put(inbox, "old.xls", bad_file("xls", issued)[1])
    result = run(inbox, store, tmp_path)
    outcomes = by_file(result)
    assert {f: o.status for f, o in outcomes.items()} == {
        "alpha.xlsx": "scored", "sub/beta.xlsx": "incomplete", "blank.xlsx": "review", "old.xls": "rejected"}
    assert [p.code for p in result.skipped] == ["MG-READ-032", "MG-READ-031"]
    assert outcomes["alpha.xlsx"].overall_stage == "Sustainable"
    assert outcomes["sub/beta.xlsx"].dimension_stages["employer-engagement"] == "Exploring"
    assert [(p.code, p.location) for p in outcomes["sub/beta.xlsx"].problems] == [
        ("MG-READ-021", "Assessment!E5"), ("MG-SCORE-002", "Assessment!E6"), ("MG-SCORE-002", "Assessment!E7")]
    assert (outcomes["blank.xlsx"].partnership_name, outcomes["blank.xlsx"].verified) == ("Lakeshore", False)
    assert outcomes["blank.xlsx"].problems[-1].code == "MG-REVIEW-002"  # on no roster: a person decides
    assert result.counts() == {"scored": 1, "incomplete": 1, "rejected": 1, "review": 1, "duplicate": 0}
    assert not result.clean


def test_batch__large_batch__process_pool_gives_the_same_outcomes(tmp_path, store, crowd):
    inbox = tmp_path / "inbox"
    for i in range(12):
        put(inbox, f"a{i:02}.xlsx", _variant(crowd, i))
    put(inbox, "bad.pdf", b"%PDF-1.4\n")
    pooled = score_paths([inbox], store, RUBRIC, KEY, tmp_path / "archive", workers=2)
    assert len(pooled.outcomes) == 13
    assert by_file(pooled)["bad.pdf"].status == "rejected"
    assert {o.status for f, o in by_file(pooled).items() if f != "bad.pdf"} == {"scored"}
    assert {o.overall_stage for o in pooled.outcomes if o.file != "bad.pdf"} == {"Emerging"}


def test_collect__folder_walk__finds_what_rglob_finds_in_the_same_order(tmp_path):
    root = tmp_path / "inbox"
    for name in ("f1.xlsx", "a/f2.xlsx", "a/b/f3", ".hid/h.xlsx", "~$lock.xlsx", ".dot", "sp ace/é.xlsx", "A/b.xlsx",
                 "a.xlsx", "a-b.xlsx"):
        put(root / Path(name).parent, Path(name).name, b"x")
    (root / "z").mkdir()
    (root / "z" / "link to folder").symlink_to(root / "a")
    (root / "z" / "link to file.xlsx").symlink_to(root / "f1.xlsx")
    (root / "z" / "broken.xlsx").symlink_to(root / "nowhere")
    expected = [p.relative_to(root).parts for p in sorted(p for p in root.rglob("*") if p.is_file())]
    assert batch_reading._files_under(root) == expected
    files, skipped = batch_module.collect([root])
    assert [shown for _, shown in files] == ["/".join(parts) for parts in expected
                                             if not parts[0].startswith((".", "~$")) and not parts[-1].startswith(".")]
    assert [p.location for p in skipped] == [".dot", ".hid/h.xlsx", "~$lock.xlsx"]


# --- history ---------------------------------------------------------------------------------------------------


def test_batch__second_different_file_for_a_partnership__becomes_current_and_keeps_the_first(tmp_path, store, issued):
    first = put(tmp_path / "in1", "alpha.xlsx", fill(issued["alpha"], upto("exploring")), mtime=1_700_000_000)
    run(first.parent, store, tmp_path)
    second = put(tmp_path / "in2", "alpha-v2.xlsx", fill(issued["alpha"], upto("operational")), mtime=1_700_100_000)
    result = run(second.parent, store, tmp_path)
    outcome = result.outcomes[0]
    assert outcome.current and "MG-STORE-002" in [p.code for p in outcome.problems]
    history = store.history("NE-IT")
    assert [(s.file_name, s.current) for s in history] == [("alpha.xlsx", False), ("alpha-v2.xlsx", True)]
    assert "replaced by alpha-v2.xlsx" in history[0].current_reason
    assert [d.info.file_name for d in store.results("2026")] == ["alpha-v2.xlsx"]


def test_batch__earlier_file_arriving_late__does_not_replace_the_current_one(tmp_path, store, issued):
    put(tmp_path / "in1", "new.xlsx", fill(issued["alpha"], upto("operational")), mtime=1_700_100_000)
    run(tmp_path / "in1", store, tmp_path)
    put(tmp_path / "in2", "old.xlsx", fill(issued["alpha"], upto("exploring")), mtime=1_700_000_000)
    result = run(tmp_path / "in2", store, tmp_path)
    assert not result.outcomes[0].current
    assert [s.file_name for s in store.submissions("2026", current_only=True)] == ["new.xlsx"]


# --- idempotence and crashes ----------------------------------------------------------------------------------------


def test_batch__same_folder_twice__nothing_new_stored_same_summary(tmp_path, store, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "alpha.xlsx", fill(issued["alpha"], upto("emerging")))
    put(inbox, "beta.xlsx", fill(issued["beta"], all_answers("Not yet")))
    put(inbox, "bad.csv", b"a,b\n1,2\n")
    first = run(inbox, store, tmp_path)
    before = counts_in_db(store)
    archived = sorted(os.listdir(tmp_path / "data" / "archive"))
    second = run(inbox, store, tmp_path)
    assert counts_in_db(store) == before
    assert sorted(os.listdir(tmp_path / "data" / "archive")) == archived
    assert {o.status for o in second.outcomes} == {"duplicate"}
    assert {p.code for o in second.outcomes for p in o.problems} == {"MG-STORE-001"}
    keep = lambda o: (o.file, o.sha256, o.partnership_id, o.round_label, o.overall_stage, o.progress,  # noqa: E731
                      dict(o.dimension_stages), o.current)
    assert [keep(o) for o in second.outcomes] == [keep(o) for o in first.outcomes]
    assert second.clean


def test_batch__same_bytes_twice_in_one_run__second_is_a_duplicate(tmp_path, store, issued):
    data = fill(issued["alpha"], upto("emerging"))
    put(tmp_path / "inbox", "a.xlsx", data)
    put(tmp_path / "inbox", "copy of a.xlsx", data)
    result = run(tmp_path / "inbox", store, tmp_path)
    assert sorted(o.status for o in result.outcomes) == ["duplicate", "scored"]
    assert counts_in_db(store)["submissions"] == 1


def test_batch__killed_mid_batch__store_consistent_and_rerun_completes(tmp_path, store, crowd, monkeypatch):
    inbox = tmp_path / "inbox"
    for i in range(7):
        put(inbox, f"f{i}.xlsx", _variant(crowd, i))
    monkeypatch.setattr(batch_module, "CHUNK_FILES", 3)
    real_add = store_submissions.add_all
    calls = {"n": 0}

    def dying_add(conn, new):
        calls["n"] += 1
        stored = real_add(conn, new)
        if calls["n"] == 2:  # killed inside the second transaction, after its rows were written
            raise KeyboardInterrupt("killed")
        return stored
    monkeypatch.setattr(store_submissions, "add_all", dying_add)
    with pytest.raises(KeyboardInterrupt):
        run(inbox, store, tmp_path)
    counts = counts_in_db(store)
    assert counts["submissions"] == 3
    assert counts["answers"] == 3 * len(RUBRIC.criteria)  # whole files only
    assert counts["scores"] == 3 * (1 + len(RUBRIC.dimensions))

    monkeypatch.setattr(store_submissions, "add_all", real_add)
    rerun = run(inbox, store, tmp_path)
    assert sorted(o.status for o in rerun.outcomes) == ["duplicate"] * 3 + ["scored"] * 4
    assert counts_in_db(store)["submissions"] == 7
    assert counts_in_db(store)["answers"] == 7 * len(RUBRIC.criteria)


def _variant(crowd, i):
    """Partnership i's return: every file of a batch from another partnership, with different bytes."""
    answers = upto("emerging")
    answers["SC-1"] = ("Not yet", f"note {i}")
    return fill(crowd[i], answers)


# --- rubric versions ------------------------------------------------------------------------------------------------


def test_batch__file_from_an_older_rubric_version_in_the_store__scored_with_it(tmp_path, store, issued):
    old = _rubric_v2()
    store.record_rubric(old)
    name, data, _ = bad_file("wrong_rubric", issued)
    put(tmp_path / "inbox", name, data)
    result = run(tmp_path / "inbox", store, tmp_path)
    assert result.outcomes[0].status == "scored"
    assert store.find(result.outcomes[0].sha256).rubric_hash == old.content_hash


# --- reading started before the store (as `matrixgen score` does) ---------------------------------------------------


def test_read_paths__started_before_the_store__same_outcomes_as_score_paths(tmp_path, store, issued, crowd):
    inbox = tmp_path / "inbox"
    for i in range(6):
        put(inbox, f"a{i}.xlsx", _variant(crowd, i))
    name, data, _ = bad_file("wrong_rubric", issued)
    put(inbox, name, data)  # made from an older version the store knows, the workers do not
    store.record_rubric(_rubric_v2())
    with batch_module.read_paths([inbox], RUBRIC, KEY, tmp_path / "archive", workers=2) as reading:
        early = batch_module.store_results(reading, store)
    outcomes = by_file(early)
    assert outcomes[name].status == "scored"
    assert store.find(outcomes[name].sha256).rubric_hash == _rubric_v2().content_hash
    assert {o.status for f, o in outcomes.items() if f != name} == {"scored"}

    with batch_module.read_paths([inbox], RUBRIC, KEY, tmp_path / "archive", workers=2) as reading:
        again = batch_module.store_results(reading, store)  # everything is stored already: read for nothing
    assert {o.status for o in again.outcomes} == {"duplicate"}
    assert counts_in_db(store)["submissions"] == 7


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked (and so patched) on Linux only")
def test_read_paths__a_file_kills_its_reader__rejected_and_the_rest_scored(tmp_path, store, crowd, monkeypatch):
    inbox = tmp_path / "inbox"
    for i in range(5):
        put(inbox, f"a{i}.xlsx", _variant(crowd, i))
    real, parent = batch_reading._work, os.getpid()

    def dying(job, context=None):
        if job[1] == "a2.xlsx" and os.getpid() != parent:
            os._exit(3)
        return real(job, context)
    monkeypatch.setattr(batch_reading, "_work", dying)
    with batch_module.read_paths([inbox], RUBRIC, KEY, tmp_path / "archive", workers=2) as reading:
        result = batch_module.store_results(reading, store)
    outcomes = by_file(result)
    assert (outcomes["a2.xlsx"].status, outcomes["a2.xlsx"].problems[-1].code) == ("rejected", "MG-READ-003")
    assert {o.status for f, o in outcomes.items() if f != "a2.xlsx"} == {"scored"}


def test_read_paths__workers_started__without_loading_sqlalchemy(tmp_path, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "a.xlsx", fill(issued["alpha"], upto("emerging")))
    code = (
        "import sys\n"
        "from matrixgen import cli, batch, summary\n"
        "from matrixgen.rubric import require_rubric\n"
        f"reading = batch.read_paths([{str(inbox)!r}], require_rubric(), b'k', {str(tmp_path / 'archive')!r}, workers=2)\n"
        "print(sorted(m for m in ('sqlalchemy', 'openpyxl') if m in sys.modules))\n"
        "reading.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- outputs ----------------------------------------------------------------------------------------------------------


def test_summary__respondent_text__never_a_formula_in_csv_or_xlsx(tmp_path, store, issued):
    data = fill(issued["blank"], all_answers(), typed={"Partnership name": "=HYPERLINK(\"http://x\")"})
    put(tmp_path / "inbox", "@evil.xlsx", data)
    answers = all_answers()
    answers["EE-1"] = ("=1+1", "")
    put(tmp_path / "inbox", "+plus.xlsx", fill(issued["alpha"], answers))
    result = run(tmp_path / "inbox", store, tmp_path)
    written = write_outputs(result, tmp_path / "out", [s.label for s in RUBRIC.stages])
    with open(written[0], encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"] for r in rows} == {"'+plus.xlsx", "'@evil.xlsx"}
    assert next(r for r in rows if r["file"] == "'@evil.xlsx")["partnership_name"] == "'=HYPERLINK(\"http://x\")"
    with open(written[2], encoding="utf-8-sig", newline="") as fh:
        problems = list(csv.DictReader(fh))
    assert all(not v.startswith(("=", "+", "-", "@")) for r in problems for v in r.values())
    wb = openpyxl.load_workbook(written[1])
    ws = wb["Summary"]
    assert ws.auto_filter.ref and ws.freeze_panes == "B2"
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert any(c.value == "=HYPERLINK(\"http://x\")" and c.data_type == "s" for c in cells)
    assert [c.value for c in ws[1]][:8] == ["file", "sha256", "status", "partnership id", "partnership name", "round",
                                            "overall stage", "progress"]


@pytest.mark.parametrize("text, safe", [("=1", "'=1"), ("+1", "'+1"), ("-1", "'-1"), ("@a", "'@a"), ("\tx", "'\tx"),
                                        ("\rx", "'\rx"), ("fine", "fine"), ("", "")])
def test_summary__safe_text__prefixes_formula_starts(text, safe):
    assert safe_text(text) == safe


def test_batch__archive__keeps_the_original_bytes_under_their_hash(tmp_path, store, issued):
    data = fill(issued["alpha"], all_answers())
    put(tmp_path / "inbox", "alpha.xlsx", data)
    result = run(tmp_path / "inbox", store, tmp_path)
    stored = store.find(result.outcomes[0].sha256)
    assert stored.archive_path.endswith(f"{result.outcomes[0].sha256}.xlsx")
    assert open(stored.archive_path, "rb").read() == data
    shutil.rmtree(tmp_path / "inbox")


# --- the office's key ----------------------------------------------------------------------------------------

OTHER_KEY = b"the office key before it changed"


def test_batch__no_signature_verifies__staff_told_the_office_key_likely_changed(tmp_path, store, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "alpha.xlsx", fill(issued["alpha"], all_answers()))
    put(inbox, "beta.xlsx", fill(issued["beta"], all_answers()))
    result = score_paths([inbox], store, RUBRIC, OTHER_KEY, tmp_path / "data" / "archive", workers=0)
    assert [o.problems[0].code for o in result.outcomes] == ["MG-READ-027", "MG-READ-027"]  # kept for reminders
    assert [(n.code, n.severity.value) for n in result.notes] == [("MG-SCORE-004", "warning")]
    assert "2 signed workbooks" in result.notes[0].message
    assert ("", result.notes[0]) in result.problems  # problems.csv carries it too


def test_batch__forged_files_beside_a_verified_one__no_note_about_the_key(tmp_path, store, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "alpha.xlsx", fill(issued["alpha"], all_answers()))
    for kind in ("forged", "altered_everywhere"):
        name, data, _code = bad_file(kind, issued)
        put(inbox, name, data)
    result = run(inbox, store, tmp_path)
    assert sorted(o.status for o in result.outcomes) == ["rejected", "rejected", "scored"]
    assert result.notes == []


def test_batch__a_single_file_refused__no_note_about_the_key(tmp_path, store, issued):
    inbox = tmp_path / "inbox"
    put(inbox, "alpha.xlsx", fill(issued["alpha"], all_answers()))
    result = score_paths([inbox], store, RUBRIC, OTHER_KEY, tmp_path / "data" / "archive", workers=0)
    assert result.outcomes[0].problems[0].code == "MG-READ-027" and result.notes == []
