"""The benchmark measures what it says: both score scripts read the answers, memory is summed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RUBRIC, all_answers
from matrixgen.simulate import fill

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
bench = pytest.importorskip("bench")

HOLD = """
import multiprocessing, time
def hold():
    block = bytearray(60 * 1024 * 1024)  # touched, so resident
    time.sleep(1.5)
if __name__ == "__main__":
    workers = [multiprocessing.get_context("spawn").Process(target=hold) for _ in range(2)]
    for w in workers: w.start()
    for w in workers: w.join()
"""


def test_tree_memory__two_workers_of_60_mb__their_sum_counted_not_the_largest(tmp_path):
    pytest.importorskip("psutil")
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    child = subprocess.Popen([sys.executable, str(script)])
    memory = bench.TreeMemory(child.pid)
    child.wait(timeout=60)
    time.sleep(0.05)
    peak = memory.stop()
    assert child.returncode == 0
    assert peak >= 2 * 60 and memory.processes_at_peak >= 3  # the parent and both workers


def test_score_scripts__filled_workbook__calamine_and_openpyxl_read_the_same_answers(tmp_path, issued):
    pytest.importorskip("pandas")
    answers = all_answers()
    answers["EE-2"] = ("In progress", "")
    path = tmp_path / "returned.xlsx"
    path.write_bytes(fill(issued["alpha"], answers))
    expected = {cid: label for cid, (label, _evidence) in answers.items()}
    assert bench.read_assessment_calamine(path, RUBRIC) == expected
    assert bench.read_all_sheets_openpyxl(path, RUBRIC) == expected
