"""Respondents, simulated: fill issued workbooks the way real people do.

Used by the demo, the tests and the benchmark. Filling edits the workbook's sheet XML in place
(as a spreadsheet app's save would leave every other part alone), so a thousand files fill in
well under a second and the answers land exactly in the cells a person would type into.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import escape

from .files import private_dir, write_private
from .layout import ASSESSMENT, EVIDENCE_COL, PARTNERSHIP, RESPONDENT_FIELDS, RESPONSE_COL
from .rubric import Rubric


@dataclass(frozen=True)
class Respondent:
    name: str = ""
    role: str = ""
    email: str = ""
    completed_on: str = ""


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> part name, from the workbook and its relationships."""
    workbook = z.read("xl/workbook.xml").decode("utf-8")
    rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = dict(re.findall(r'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels))
    targets.update({rid: t for t, rid in re.findall(r'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
    parts = {}
    for name, rid in re.findall(r'<sheet [^>]*?name="([^"]+)"[^>]*?r:id="([^"]+)"', workbook):
        target = targets[rid].lstrip("/")
        parts[name] = target if target.startswith("xl/") else "xl/" + target
    return parts


def _row_of(xml: str, column: str, value: str) -> int | None:
    m = re.search(rf'<c r="{column}(\d+)"[^>]*t="inlineStr"[^>]*><is><t[^>]*>{re.escape(escape(value))}</t></is></c>', xml)
    return int(m.group(1)) if m else None


def _put(xml: str, ref: str, value: object) -> str:
    """Replace the (empty, styled) cell ``ref`` with a value, keeping its style."""
    pattern = re.compile(rf'<c r="{ref}"( s="\d+")?[^>]*?(/>|>.*?</c>)')
    m = pattern.search(xml)
    if m is None:
        raise ValueError(f"cell {ref} not found")
    style = m.group(1) or ""
    if value is None or value == "":
        cell = f'<c r="{ref}"{style}/>'
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        cell = f'<c r="{ref}"{style}><v>{value}</v></c>'
    else:
        cell = f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'
    return xml[: m.start()] + cell + xml[m.end():]


def fill(
    data: bytes,
    answers: Mapping[str, tuple[object, str]],
    respondent: Respondent | None = None,
    typed: Mapping[str, str] | None = None,
) -> bytes:
    """Type answers into an issued workbook.

    ``answers`` maps criterion id -> (response as typed, evidence). ``typed`` fills the
    Partnership sheet's own cells by label (a generic blank's name, region, sector).
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    parts = _sheet_parts(src)
    edits: dict[str, str] = {}

    xml = src.read(parts[ASSESSMENT]).decode("utf-8")
    for cid, (response, evidence) in answers.items():
        row = _row_of(xml, "A", cid)
        if row is None:
            raise ValueError(f"criterion {cid} not in workbook")
        xml = _put(xml, f"{RESPONSE_COL}{row}", response)
        xml = _put(xml, f"{EVIDENCE_COL}{row}", evidence)
    edits[parts[ASSESSMENT]] = xml

    xml = src.read(parts[PARTNERSHIP]).decode("utf-8")
    values = dict(typed or {})
    if respondent is not None:
        values.update(zip([label for label, _ in RESPONDENT_FIELDS],
                          (respondent.name, respondent.role, respondent.email, respondent.completed_on)))
    for label, value in values.items():
        row = _row_of(xml, "A", label)
        if row is None:
            raise ValueError(f"no '{label}' on the {PARTNERSHIP} sheet")
        xml = _put(xml, f"B{row}", value)
    edits[parts[PARTNERSHIP]] = xml

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = edits[info.filename].encode("utf-8") if info.filename in edits else src.read(info)
            dst.writestr(info, body, compresslevel=1)
    return out.getvalue()


# --- realistic answers ---------------------------------------------------------------------------

EVIDENCE = {
    "employer-engagement": [
        "Our chair is the HR director of a regional employer; six employers attend every quarterly meeting.",
        "Two employer champions co-hosted the launch event in spring.",
        "Employers renewed their dues for a second year and asked to expand the partnership.",
        "An employer survey rated the partnership as valuable (4.3 of 5).",
    ],
    "organizational-capacity": [
        "Partner map drafted with the workforce board and two community colleges.",
        "Steering group includes K-12, adult education, economic development and the workforce board.",
        "Adult education and vocational rehabilitation joined this year.",
    ],
    "neutral-convener": [
        "The regional workforce board acts as interim convener.",
        "A dedicated coordinator (0.5 FTE) facilitates meetings and keeps the workplan.",
    ],
    "shared-vision": [
        "Objectives agreed at the kickoff: fill technician roles and raise awareness in high schools.",
        "A signed memorandum of understanding sets out roles and partner investments.",
    ],
    "service-delivery": [
        "Action plan adopted; a career-awareness tour reached 400 students.",
        "Time to hire for entry-level roles fell from 41 to 29 days.",
    ],
    "data-informed": [
        "We review labor market data each quarter with the regional economist.",
        "A dashboard of five metrics is published to partners twice a year.",
    ],
    "geography": [
        "Our counties follow commuting patterns across two workforce areas.",
    ],
    "sustainability": [
        "A sustainability plan with shared dues and a foundation grant is in draft.",
    ],
}


def answers_for_level(rubric: Rubric, level: float, rng: random.Random,
                      evidence_rate: float = 0.7) -> dict[str, tuple[str, str]]:
    """Plausible answers for a partnership whose maturity is ``level`` (0 = just starting,
    len(stages) = fully sustainable): earlier stages Met, the frontier In progress, later Not yet,
    with a little noise so dimensions differ."""
    out = {}
    for dim in rubric.dimensions:
        offset = rng.choice((-1, 0, 0, 0, 1))
        for c in dim.criteria:
            gap = rubric.stage(c.stage_id).index + 1 - (level + offset * 0.6)
            if gap <= 0:
                label = "Met"
            elif gap < 1:
                label = rng.choice(("Met", "In progress", "In progress"))
            elif gap < 2:
                label = rng.choice(("In progress", "Not yet", "Not yet"))
            else:
                label = "Not yet"
            bank = EVIDENCE.get(dim.id, ["Discussed at our last meeting."])
            evidence = rng.choice(bank) if label != "Not yet" and rng.random() < evidence_rate else ""
            out[c.id] = (label, evidence)
    return out


def retype(label: str, rng: random.Random) -> str:
    """How people and apps re-type an answer: case, padding, doubled spaces."""
    return rng.choice((label.upper(), label.lower(), f" {label} ", label.title(), label.replace(" ", "  ")))


# --- a whole round of returns --------------------------------------------------------------------

FIRST_NAMES = ("Ann", "Luis", "Mei", "Omar", "Ruth", "Dev", "Kara", "Sam", "Nia", "Ivan", "Lena", "Theo")
ROLES = ("Convener", "Executive director", "Program manager", "Employer co-chair", "Coordinator")


@dataclass(frozen=True)
class Returned:
    """One file a partnership sent back, and how the simulated respondent treated it."""

    partnership_id: str
    path: Path
    level: float
    quirk: str  # "" | "retyped" | "incomplete" | "xls" | "resaved" | the demo's own (see demo.QUIRKS)


def respond(
    rubric: Rubric,
    issued: list,  # generate.Generated
    out_dir: Path | str,
    levels: Mapping[str, float],
    rng: random.Random,
    quirks: Mapping[str, str] | None = None,
    completed_on: str = "",
) -> list[Returned]:
    """Fill every issued workbook at its partnership's maturity level and save it as a return.

    ``quirks`` maps partnership id -> what the respondent does wrong: "retyped" answers in odd
    case and spacing, "incomplete" leaves one criterion blank and types two answers that are not on
    the scale ("Mett", "N/A"), "missing" never returns it.
    """
    out = Path(out_dir)
    private_dir(out)
    quirks = quirks or {}
    returned = []
    for made in issued:
        p = made.partnership
        quirk = quirks.get(p.id, "")
        if quirk == "missing":
            continue
        level = levels[p.id]
        answers = answers_for_level(rubric, level, rng)
        if quirk == "retyped":
            answers = {cid: (retype(label, rng), ev) for cid, (label, ev) in answers.items()}
        elif quirk == "incomplete":
            for cid, typo in zip(rng.sample(sorted(answers), 3), (None, "Mett", "N/A")):
                answers[cid] = (typo, "")
        first = FIRST_NAMES[sum(map(ord, p.id)) % len(FIRST_NAMES)]
        contact = p.contact_name or f"{first} Example"
        respondent = Respondent(contact, rng.choice(ROLES), p.contact_email, completed_on)
        path = out / made.path.name
        write_private(path, fill(made.path.read_bytes(), answers, respondent))
        returned.append(Returned(p.id, path, level, quirk))
    return returned
