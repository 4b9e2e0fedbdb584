"""Shared builders for the scoring tests: issued workbooks, filled returns, and bad files."""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import zipfile
from pathlib import Path

import pytest

from matrixgen.generate import Options, generate_blank, generate_workbooks
from matrixgen.roster import Partnership
from matrixgen.rubric import load_rubric

# A test run started as a background job (`make test &` in a script, nohup) inherits SIGINT
# ignored, and so would every command the tests start: the Ctrl-C tests need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

KEY = b"k" * 32
RUBRIC = load_rubric().rubric
RUBRICS = {RUBRIC.content_hash: RUBRIC}
OPTIONS = Options(round="2026", generated_at="2026-01-15T10:00:00Z")
ALPHA = Partnership("NE-IT", "Three Rivers Tech Talent Network", "Northeast", "IT", "Ann", "ann@example.org")
BETA = Partnership("WC-AG", "Wabash Prairie Agriculture Council", "West Central", "Agriculture", "Bo", "bo@example.org")
FIXTURES = Path(__file__).parent / "fixtures"
# A roster of many partnerships, for batches in which no partnership sends two files.
CROWD = tuple(Partnership(f"P-{i:02}", f"Partnership Number {i:02}", f"Region {i % 5}", "Manufacturing", f"Contact {i}",
                          f"contact{i:02}@example.org") for i in range(1, 15))
FIXTURE_KEY = b"fixture-key-not-secret-0123456789"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def need_service(name: str, env_var: str) -> str:
    """The address of a service a test needs (``.ci/run`` starts them), read from ``env_var``.

    Without it the test is skipped, saying why; under CI=true it fails instead, so that CI cannot
    go green by skipping what it was meant to test."""
    value = os.environ.get(env_var, "")
    if value:
        return value
    reason = f"no {name} server: {env_var} is not set (.ci/run starts one, or set it to a server's URL)"
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def issued(tmp_path_factory):
    """Signed workbooks for ALPHA and BETA and a generic blank, as bytes."""
    out = tmp_path_factory.mktemp("issued")
    made = generate_workbooks(RUBRIC, [ALPHA, BETA], out, OPTIONS, KEY)
    blank = generate_blank(RUBRIC, out, OPTIONS, KEY)
    return {"alpha": made[0].path.read_bytes(), "beta": made[1].path.read_bytes(), "blank": blank.path.read_bytes(),
            "made": made, "blank_made": blank}


@pytest.fixture(scope="session")
def crowd(tmp_path_factory):
    """Signed round-2026 workbooks for every partnership of CROWD, as bytes, in CROWD's order."""
    out = tmp_path_factory.mktemp("crowd")
    return [g.path.read_bytes() for g in generate_workbooks(RUBRIC, CROWD, out, OPTIONS, KEY)]


def all_answers(label: str = "Met", evidence: str = "") -> dict[str, tuple[object, str]]:
    return {c.id: (label, evidence) for c in RUBRIC.criteria}


def upto(stage_id: str) -> dict[str, tuple[object, str]]:
    """Met for every criterion up to and including ``stage_id``, Not yet after it."""
    last = RUBRIC.stage(stage_id).index
    return {c.id: ("Met" if RUBRIC.stage(c.stage_id).index <= last else "Not yet", "") for c in RUBRIC.criteria}


# --- editing a workbook's parts, as a hostile or careless sender would ------------------------------


def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def zip_parts(parts: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return out.getvalue()


def edit_part(data: bytes, name: str, change) -> bytes:
    parts = parts_of(data)
    parts[name] = change(parts[name])
    return zip_parts(parts)


ASSESSMENT_PART = "xl/worksheets/sheet3.xml"
PARTNERSHIP_PART = "xl/worksheets/sheet2.xml"


def set_cell_xml(body: bytes, ref: str, inner: bytes) -> bytes:
    """Replace cell ``ref`` of a sheet's XML with raw XML content (e.g. a formula)."""
    pattern = re.compile(rb'<c r="' + ref.encode() + rb'"[^>]*?(/>|>.*?</c>)', re.S)
    return pattern.sub(lambda m: b'<c r="' + ref.encode() + b'"' + inner, body, count=1)


def ole_file(*streams: str) -> bytes:
    """A minimal compound (OLE) file whose directory names the given streams, like .xls or an
    encrypted Office file: a header sector, one FAT sector and one directory sector."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIII", header, 44, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE)
    struct.pack_into("<I", header, 68, 0xFFFFFFFE)
    struct.pack_into("<I", header, 72, 0)
    struct.pack_into("<I", header, 76, 0)  # FAT in sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<II", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE)
    directory = bytearray()
    for name in ("Root Entry", *streams):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[0:len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 64, len(encoded), 5 if name == "Root Entry" else 2, 1)
        struct.pack_into("<III", entry, 68, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        directory += entry
    directory += bytes(512 - len(directory) % 512) if len(directory) % 512 else b""
    return bytes(header + fat + directory)


# --- one builder per kind of bad file: (file name, bytes, the code it must be rejected with) -------------

LOL = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
       + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10) for i in range(1, 10))
       + b"]>")


def _rubric_v2():
    text = load_rubric().rubric.canonical()
    from matrixgen.rubric import rubric_from_canonical
    text["rubric"]["version"] = "2099-01-01"
    return rubric_from_canonical(text)


def bad_file(kind: str, issued: dict) -> tuple[str, bytes, str]:
    from matrixgen.generate import Template
    from matrixgen.simulate import fill

    good = fill(issued["alpha"], all_answers())
    if kind == "truncated_zip":
        return "cut.xlsx", good[: len(good) // 2], "MG-READ-003"
    if kind == "zip_bomb":
        parts = parts_of(good)
        parts["xl/media/image1.png"] = bytes(3 * 1024 * 1024)  # 3 MB of zeros: ~3 KB deflated
        return "bomb.xlsx", zip_parts(parts), "MG-READ-013"
    if kind == "billion_laughs":
        return "lol.xlsx", edit_part(good, ASSESSMENT_PART, lambda b: LOL + b.replace(b"<t>EE-1</t>", b"<t>&lol9;</t>")), "MG-READ-014"
    if kind == "encrypted":
        from msoffcrypto.format.ooxml import OOXMLFile
        out = io.BytesIO()
        OOXMLFile(io.BytesIO(good)).encrypt("secret", out)
        return "locked.xlsx", out.getvalue(), "MG-READ-004"
    if kind == "xls":
        return "old.xls", ole_file("Workbook", "\x05SummaryInformation"), "MG-READ-005"
    if kind == "xlsm":
        return "macro.xlsm", edit_part(good, "[Content_Types].xml", lambda b: b.replace(
            b"spreadsheetml.sheet.main+xml", b"spreadsheetml.sheet.main+xml.x").replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml.x",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")), "MG-READ-006"
    if kind == "xlsb":
        return "binary.xlsb", zip_parts({"[Content_Types].xml": b'<Types><Override PartName="/xl/workbook.bin" '
                                         b'ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>',
                                         "xl/workbook.bin": b"\x83\x01\x00"}), "MG-READ-007"
    if kind == "ods":
        return "calc.ods", zip_parts({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                                      "content.xml": b"<office:document-content/>"}, zipfile.ZIP_STORED), "MG-READ-008"
    if kind == "strict":
        return "strict.xlsx", edit_part(good, "_rels/.rels", lambda b: b.replace(
            b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
            b"http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument")), "MG-READ-009"
    if kind == "csv":
        return "answers.xlsx", b"ID,Response\nEE-1,Met\nEE-2,Met\n", "MG-READ-010"
    if kind == "pdf":
        return "printout.pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "MG-READ-011"
    if kind == "empty":
        return "empty.xlsx", b"", "MG-READ-001"
    if kind == "other":
        return "photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(64), "MG-READ-012"
    if kind == "wrong_rubric":
        other = _rubric_v2()
        template = Template(other, OPTIONS)
        data = template.render(template.identity_for(ALPHA, KEY))
        return "old-version.xlsx", fill(data, all_answers()), "MG-SCORE-001"
    if kind == "forged":
        template = Template(RUBRIC, OPTIONS)
        data = template.render(template.identity_for(ALPHA, b"another office's key........"))
        return "forged.xlsx", fill(data, all_answers()), "MG-READ-027"
    if kind == "altered":
        # The visible partnership name changed, the hidden copies not: the places disagree.
        name = ALPHA.name.encode()
        return "altered.xlsx", edit_part(good, PARTNERSHIP_PART, lambda b: b.replace(name, b"Someone Else")), "MG-READ-026"
    if kind == "altered_everywhere":
        name = ALPHA.name.encode()
        parts = parts_of(good)
        for part in (PARTNERSHIP_PART, "xl/worksheets/sheet6.xml", "docProps/custom.xml"):
            parts[part] = parts[part].replace(name, b"Someone Else")
        return "altered2.xlsx", zip_parts(parts), "MG-READ-027"
    if kind == "no_identity":
        parts = parts_of(good)
        for part in (PARTNERSHIP_PART, "xl/worksheets/sheet6.xml", "docProps/custom.xml"):
            parts[part] = re.sub(rb"matrixgen_|rubric_hash|signature|Rubric hash|Signature", b"x", parts[part])
        return "homemade.xlsx", zip_parts(parts), "MG-READ-025"
    if kind == "huge_sheet":
        return "stray.xlsx", edit_part(good, ASSESSMENT_PART, lambda b: b.replace(
            b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>')), "MG-READ-016"
    raise ValueError(kind)


BAD_KINDS = ("truncated_zip", "zip_bomb", "billion_laughs", "encrypted", "xls", "xlsm", "xlsb", "ods", "strict", "csv",
             "pdf", "empty", "other", "wrong_rubric", "forged", "altered", "altered_everywhere", "no_identity", "huge_sheet")



def empty_postgresql(url: str) -> None:
    """Drop everything in the test PostgreSQL database, Alembic's version table included."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The whole demo, run once for every test that looks at it (it renders a dozen PDFs)."""
    from matrixgen.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo") / "out")
