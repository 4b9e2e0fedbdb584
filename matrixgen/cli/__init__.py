"""The command line: parse options, call the library, print, map results to exit codes.

This package is the only part of matrixgen that imports click; each module holds the commands of
one step and the library does the work. Exit codes: 0 success, 1 the input had problems (all of
them printed), 2 usage errors (click's own).
"""

from __future__ import annotations

from . import collect, demo, mail, reports, review, rounds, rubric, scoring, web, workbooks  # noqa: F401  (each registers its commands)
from .common import main

__all__ = ["main"]
