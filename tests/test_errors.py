from __future__ import annotations

import re
from pathlib import Path

from matrixgen.errors import CATALOGUE, catalogue_markdown, problem

ROOT = Path(__file__).resolve().parents[1]


def test_errors__docs_table__matches_the_catalogue():
    # Regenerate with: python -c "from matrixgen.errors import catalogue_markdown as m; print(m(), end='')" > docs/errors.md
    assert (ROOT / "docs" / "errors.md").read_text() == catalogue_markdown()


def test_errors__codes__stable_shape_and_unique():
    assert all(re.fullmatch(r"MG-[A-Z]+-\d{3}", code) for code in CATALOGUE)


def test_errors__problem__location_message_and_code_in_its_text():
    p = problem("MG-ROSTER-003", "roster.csv line 7", column="name")
    assert str(p) == "roster.csv line 7: 'name' is empty; every partnership needs an id and a name [MG-ROSTER-003]"
    assert p.is_error and p.as_dict()["severity"] == "error"
