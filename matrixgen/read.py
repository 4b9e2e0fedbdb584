"""Returned file -> the answers in it, who sent it, and every problem found, located.

Nothing in a returned file is trusted. In order:

1. **What it is**, by content: only a normal .xlsx is read; every other kind (password-protected,
   .xls, .xlsm, .xlsb, .ods, Strict Open XML, CSV, PDF, anything else) is rejected with what the
   respondent should do instead.
2. **Bounds before parsing**: file size, then the zip's entry count, declared sizes and ratios;
   every part is then decompressed by Python's zipfile (which stops at the declared size and
   checks the CRC), so the declared sizes are the real ones; a part that declares XML entities
   is refused outright (workbooks never do), and sheets whose cells span an absurd area are
   refused before a dense reader would allocate them. The XML we parse ourselves goes through
   defusedxml. A per-file time budget stops anything that still runs too long.
3. **Values** come from python-calamine (the hot path); cells that hold formulas are found in the
   sheet XML and never trusted: their cached results are not answers.
4. **Identity** from three places (the hidden sheet, the document properties, the Partnership
   sheet), cross-checked, then the office's signature verified.
5. **Answers** by criterion id and columns by header, so inserted, deleted or re-sorted rows and
   columns, renamed or reordered sheets and re-typed values do not matter.
"""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import threading
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping
from xml.etree.ElementTree import Element
from xml.parsers.expat import ExpatError

import python_calamine
from defusedxml import ElementTree as SafeET

from . import identity
from .errors import Problem, has_errors, problem
from .identity import Identity
from .layout import ASSESSMENT, META, META_KEYS, PARTNERSHIP, PARTNERSHIP_FIELDS, PROP_PREFIX, RESPONDENT_FIELDS
from .rubric import Response, Rubric, normalise_answer_text

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a returned file may be before it is refused unopened. A filled workbook is ~20 KB."""

    max_bytes: int = 10 * MB
    max_entries: int = 500
    max_uncompressed: int = 50 * MB  # all parts together, as declared and as decompressed
    max_ratio: float = 100.0  # uncompressed / compressed, per part over 1 MB and overall
    max_cells: int = 1_000_000  # rows x columns a sheet's cells may span
    seconds: float = 10.0  # per file


DEFAULT_LIMITS = Limits()


class Kind(str, Enum):
    XLSX = "xlsx"
    ENCRYPTED = "encrypted"
    XLS = "xls"
    XLSM = "xlsm"
    XLSB = "xlsb"
    ODS = "ods"
    STRICT = "strict"
    CSV = "csv"
    PDF = "pdf"
    EMPTY = "empty"
    DAMAGED = "damaged"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


# Rejection code for each kind that is not read.
KIND_CODES = {
    Kind.EMPTY: "MG-READ-001", Kind.DAMAGED: "MG-READ-003", Kind.ENCRYPTED: "MG-READ-004",
    Kind.XLS: "MG-READ-005", Kind.XLSM: "MG-READ-006", Kind.XLSB: "MG-READ-007", Kind.ODS: "MG-READ-008",
    Kind.STRICT: "MG-READ-009", Kind.CSV: "MG-READ-010", Kind.PDF: "MG-READ-011", Kind.OTHER: "MG-READ-012",
}
# File extension for the archive copy, by kind (the respondent's own extension is not trusted).
ARCHIVE_EXT = {
    Kind.XLSX: "xlsx", Kind.ENCRYPTED: "encrypted", Kind.XLS: "xls", Kind.XLSM: "xlsm", Kind.XLSB: "xlsb",
    Kind.ODS: "ods", Kind.STRICT: "xlsx", Kind.CSV: "csv", Kind.PDF: "pdf", Kind.EMPTY: "empty",
    Kind.DAMAGED: "bin", Kind.OTHER: "bin",
}


@dataclass(frozen=True)
class Answer:
    criterion_id: str
    raw: str  # the cell as text, '' when blank
    response: Response | None  # None: blank, off the scale, a formula, or conflicting duplicates
    evidence: str
    cell: str  # where the answer is, e.g. Assessment!E12


@dataclass(frozen=True)
class ReadResult:
    """Everything read from one returned file. ``rejected`` files carry only their problems."""

    name: str
    kind: Kind
    problems: tuple[Problem, ...]
    rejected: bool
    identity: Identity | None = None  # signed identity, or for a generic blank the typed one
    verified: bool = False  # True when the office's signature verifies and names a partnership
    identity_source: str = ""  # where the identity came from, e.g. "hidden sheet, properties, Partnership sheet"
    rubric: Rubric | None = None
    answers: tuple[Answer, ...] = ()
    respondent: Mapping[str, str] = field(default_factory=dict)  # respondent_name, _role, _email, completed_on
    typed_id: str = ""  # a partnership id typed on a generic blank (never signed; match.py checks it)

    def responses(self) -> dict[str, Response | None]:
        """criterion id -> Response, for ``score.score``; absent or None = not answered."""
        return {a.criterion_id: a.response for a in self.answers}

    @property
    def incomplete(self) -> bool:
        return not self.rejected and has_errors(self.problems)


# --- entry points ------------------------------------------------------------------------------


def skip_reason(path: Path) -> Problem | None:
    """Office lock files (``~$name.xlsx``) and hidden files are not returns: a note, not a file."""
    if path.name.startswith("~$"):
        return problem("MG-READ-031", path.name)
    if path.name.startswith("."):
        return problem("MG-READ-032", path.name)
    return None


def read_file(path: str | Path, rubrics: Mapping[str, Rubric], key: bytes,
              limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            return _reject(path.name, Kind.OTHER, problem("MG-READ-002", path.name, size=_mb(size), limit=_mb(limits.max_bytes)))
        data = path.read_bytes()
    except OSError as exc:
        return _reject(path.name, Kind.OTHER, problem("MG-READ-033", path.name, reason=exc.strerror or str(exc)))
    return read_workbook(data, path.name, rubrics, key, limits)


def read_workbook(data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes,
                  limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    """Read one returned file's bytes. Never raises for anything in the file.

    ``rubrics`` maps a rubric content hash to the Rubric (every version the office issued);
    ``key`` is the office's signing key.
    """
    try:
        with _deadline(limits.seconds):
            return _Reader(data, name, rubrics, key, limits).read()
    except _Timeout:
        return _reject(name, Kind.XLSX, problem("MG-READ-015", name, seconds=limits.seconds))
    except MemoryError:
        return _reject(name, Kind.DAMAGED, problem("MG-READ-003", name, reason="it needs too much memory to open"))
    except Exception as exc:  # an untrusted file must never crash a batch
        return _reject(name, Kind.DAMAGED, problem("MG-READ-003", name, reason=f"unreadable: {type(exc).__name__}"))


def sniff(data: bytes) -> tuple[Kind | None, str]:
    """The kind of a file from its first bytes; None means a zip, which ``zip_kind`` decides."""
    if not data:
        return Kind.EMPTY, ""
    if data.startswith(OLE_MAGIC):
        # An OLE container's directory names its streams in UTF-16: enough to tell them apart.
        if _u16("EncryptedPackage") in data or _u16("EncryptionInfo") in data:
            return Kind.ENCRYPTED, ""
        if _u16("Workbook") in data or _u16("Book") in data:
            return Kind.XLS, ""
        if _u16("WordDocument") in data:
            return Kind.OTHER, "a Word .doc file"
        return Kind.OTHER, "an older Office file"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return None, ""
    if b"%PDF-" in data[:1024]:
        return Kind.PDF, ""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return Kind.OTHER, what
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    if b"\x00" in head:
        return Kind.OTHER, "a binary file"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n").lower()
    if text.startswith("<"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in text:
            return Kind.OTHER, "an XML Spreadsheet 2003 file"
        return Kind.OTHER, "a web page or XML file"
    return Kind.CSV, ""


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC = (
    (b"\x89PNG", "a PNG picture"), (b"\xff\xd8\xff", "a JPEG picture"), (b"GIF8", "a GIF picture"),
    (b"{\\rtf", "an RTF document"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
)


def _u16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"


def _reject(name: str, kind: Kind, *problems: Problem) -> ReadResult:
    return ReadResult(name=name, kind=kind, problems=tuple(problems), rejected=True)


# --- the time budget ---------------------------------------------------------------------------


class _Timeout(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the read after ``seconds`` (SIGALRM; main thread on POSIX only).

    The size limits already bound every step; this is the last line of defence. A call inside
    the Rust reader is interrupted when it returns to Python.
    """
    usable = seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- zip and XML, bounded ------------------------------------------------------------------------

MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": Kind.XLSX,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": Kind.XLSM,
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": Kind.XLSB,
}
OTHER_TYPES = {
    "spreadsheetml.template": "an Excel template (.xltx)",
    "ms-excel.template": "an Excel template (.xltm)",
    "wordprocessingml": "a Word document",
    "presentationml": "a PowerPoint file",
}
STRICT_NS = b"purl.oclc.org/ooxml/"
ENTITY_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", *(m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-16-le", "utf-16-be")))


class _Refused(Exception):
    def __init__(self, kind: Kind, found: Problem):
        self.kind, self.problem = kind, found


class Parts(Mapping[str, bytes]):
    """The zip's parts, checked against the limits up front and each decompressed on first use.

    Only the parts something reads are decompressed (a third of a workbook); each is inflated
    with zlib capped at its declared size and its CRC checked, so a part that lies about its
    size is refused, and one that declares XML entities is refused before any parser sees it.
    """

    def __init__(self, data: bytes, name: str, limits: Limits):
        self.data, self.name = data, name
        try:
            infos = zip_entries(data)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise _Refused(Kind.DAMAGED, problem("MG-READ-003", name, reason=_zip_reason(exc)))
        if len(infos) > limits.max_entries:
            raise self._bomb(f"{len(infos)} parts, more than {limits.max_entries}")
        total = sum(i.file_size for i in infos)
        if total > limits.max_uncompressed:
            raise self._bomb(f"{_mb(total)} MB uncompressed, more than {_mb(limits.max_uncompressed)} MB")
        if total > MB and total > limits.max_ratio * len(data):
            raise self._bomb(f"expands {total / max(len(data), 1):.0f} times")
        for info in infos:
            if info.file_size > MB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise self._bomb(f"{info.filename} expands {info.file_size / max(info.compress_size, 1):.0f} times")
        self.infos = {i.filename: i for i in infos if not i.is_dir()}
        if len(self.infos) != sum(1 for i in infos if not i.is_dir()):
            # Two parts with one name: readers disagree on which is meant, so no check here would hold.
            raise _Refused(Kind.DAMAGED, problem("MG-READ-003", name, reason="two parts share one name"))
        self._cache: dict[str, bytes] = {}

    def _bomb(self, reason: str) -> _Refused:
        return _Refused(Kind.DAMAGED, problem("MG-READ-013", self.name, reason=reason))

    def __getitem__(self, part: str) -> bytes:
        if part not in self._cache:
            self._cache[part] = self._inflate(self.infos[part])
        return self._cache[part]

    def __iter__(self):
        return iter(self.infos)

    def __len__(self) -> int:
        return len(self.infos)

    def _inflate(self, info: zipfile.ZipInfo | ZipEntry) -> bytes:
        damaged = lambda reason: _Refused(Kind.DAMAGED, problem("MG-READ-003", self.name, reason=reason))  # noqa: E731
        at, data = info.header_offset, self.data
        if data[at:at + 4] != b"PK\x03\x04":
            raise damaged("a part's header is missing")
        if info.flag_bits & 0x1:
            raise damaged("the zip is encrypted")
        start = at + 30 + int.from_bytes(data[at + 26:at + 28], "little") + int.from_bytes(data[at + 28:at + 30], "little")
        packed = data[start:start + info.compress_size]
        if len(packed) != info.compress_size:
            raise damaged("not a complete zip file; it may have been cut off while sending")
        same = (packed, info.compress_type, info.file_size, info.CRC)
        if same in _CHECKED_PARTS:
            return _CHECKED_PARTS[same]
        if info.compress_type == zipfile.ZIP_STORED:
            body = packed
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            inflater = zlib.decompressobj(-15)
            try:
                body = inflater.decompress(packed, info.file_size)
            except zlib.error:
                raise damaged("a part's compressed data is corrupt")
            if inflater.unconsumed_tail:
                raise self._bomb(f"{info.filename} holds more than its declared size")
        else:
            raise damaged("a part uses an unsupported compression")
        if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
            raise damaged("a part fails its checksum")
        # Every marker holds a '!', which most parts have none of: one memchr usually settles it.
        if b"!" in body and any(marker in body for marker in ENTITY_MARKERS):
            raise _Refused(Kind.DAMAGED, problem("MG-READ-014", self.name, part=info.filename))
        if len(packed) <= 4096:
            if len(_CHECKED_PARTS) >= 512:
                _CHECKED_PARTS.clear()
            _CHECKED_PARTS[same] = body
        return body


# Small parts that passed every check above, by their compressed bytes, method, size and CRC: the
# content types, relationships and workbook parts are the same bytes in every workbook issued
# from one template, so each is inflated and checked once a process instead of once a file.
_CHECKED_PARTS: dict[tuple[bytes, int, int, int], bytes] = {}


class ZipEntry:
    """A central-directory entry: the fields of zipfile.ZipInfo that Parts uses, by the same names."""

    __slots__ = ("filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size", "header_offset")

    def is_dir(self) -> bool:
        return self.filename[-1] == "/"


_END = struct.Struct("<4s4H2LH")  # zipfile's structEndArchive
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile's structCentralDir


def zip_entries(data: bytes) -> list:
    """The zip's entries as zipfile lists them (ZipEntry or zipfile.ZipInfo).

    The plain layout that spreadsheet apps and Python's zipfile write (no archive comment, no
    zip64, no extra fields, nothing before the first part, names that decode) is read here
    directly, several times faster; anything else is left to zipfile, whose checks and errors
    then apply as before."""
    entries = _plain_entries(data)
    return entries if entries is not None else zipfile.ZipFile(io.BytesIO(data)).infolist()


def _plain_entries(data: bytes) -> list[ZipEntry] | None:
    end = len(data) - _END.size  # where the end-of-central-directory record must start
    if end < 0 or data[end:end + 4] != b"PK\x05\x06" or data[-2:] != b"\x00\x00":
        return None  # none, or followed by a comment: zipfile searches for it
    if end >= 20 and data[end - 20:end - 16] == b"PK\x06\x07":
        return None  # zip64
    size_cd, offset_cd = _END.unpack_from(data, end)[5:7]
    if offset_cd + size_cd != end:
        return None  # bytes before the zip (zipfile shifts every offset), or a damaged directory
    entries, at = [], offset_cd
    while at < end:
        if at + _CENTRAL.size > end:
            return None
        (signature, _, _, extract_version, _, flags, method, _, _, crc, packed, size, name_length, extra_length,
         comment_length, _, _, _, offset) = _CENTRAL.unpack_from(data, at)
        at += _CENTRAL.size
        if signature != b"PK\x01\x02" or extra_length or extract_version > zipfile.MAX_EXTRACT_VERSION:
            return None
        raw_name = data[at:at + name_length]
        at += name_length + comment_length
        if at > end:
            return None
        try:
            filename = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        except UnicodeDecodeError:
            return None
        if not filename or "\x00" in filename or (os.sep != "/" and os.sep in filename):
            return None  # zipfile would cut or rewrite the name
        entry = ZipEntry()
        entry.filename, entry.flag_bits, entry.compress_type, entry.CRC = filename, flags, method, crc
        entry.compress_size, entry.file_size, entry.header_offset = packed, size, offset
        entries.append(entry)
    return entries


def _zip_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "crc" in text:
        return "a part fails its checksum"
    if "password" in text or "encrypted" in text:
        return "the zip is encrypted"
    if "compression" in text:
        return "a part uses an unsupported compression"
    return "not a complete zip file; it may have been cut off while sending"


def xml(body: bytes) -> Element:
    """Parse XML from a returned file: entity expansion and DTDs forbidden."""
    return SafeET.fromstring(body, forbid_dtd=True)


def top_elements(body: bytes) -> list[tuple[str, str]]:
    """(name attribute, all text inside) of each element under the root, as ``xml(body)`` would
    give them, through the same defusedxml parser, but without building the tree: the handlers keep
    just this (a custom-properties part is read from every file; ~30% faster)."""
    parser = SafeET.DefusedXMLParser(forbid_dtd=True)  # DTDs, entity declarations, external references refused
    expat = parser.parser
    expat.ordered_attributes = False
    found: list[tuple[str, str]] = []
    depth = 0
    current: list[str] = []  # the name, then the text pieces

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, current
        depth += 1
        if depth == 2:
            current = [attrs.get("name", "")]

    def end(tag: str) -> None:
        nonlocal depth
        if depth == 2:
            found.append((current[0], "".join(current[1:])))
        depth -= 1

    def data(text: str) -> None:
        if depth >= 2:
            current.append(text)

    expat.StartElementHandler, expat.EndElementHandler, expat.CharacterDataHandler = start, end, data
    try:
        expat.Parse(body, True)
    except ExpatError as exc:
        raise SafeET.ParseError(str(exc)) from exc
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def zip_kind(parts: Mapping[str, bytes]) -> tuple[Kind, str]:
    if "mimetype" in parts.keys():
        if parts["mimetype"].strip().startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
            return Kind.ODS, ""
        return Kind.OTHER, "an OpenDocument file that is not a spreadsheet"
    if "[Content_Types].xml" not in parts.keys():
        return Kind.OTHER, "a zip archive"
    # The content types name the main part's type; a byte search is enough to tell them apart.
    types = parts["[Content_Types].xml"]
    for content_type, kind in MAIN_TYPES.items():
        if content_type.encode() in types:
            if kind is Kind.XLSX and STRICT_NS in parts.get("_rels/.rels", b""):
                return Kind.STRICT, ""
            return kind, ""
    for fragment, what in OTHER_TYPES.items():
        if fragment.encode() in types:
            return Kind.OTHER, what
    return Kind.OTHER, "an Office file that is not a workbook"


def sheet_parts(parts: Mapping[str, bytes]) -> dict[str, str]:
    """Sheet name -> its part's path, from the workbook and its relationships."""
    main = "xl/workbook.xml"
    if main not in parts.keys():
        rels_root = xml(parts.get("_rels/.rels", b"<r/>"))
        main = next((e.get("Target", "") for e in rels_root if e.get("Type", "").endswith("/officeDocument")), main)
        main = main.lstrip("/")
    folder = main.rsplit("/", 1)[0] + "/" if "/" in main else ""
    rels_name = f"{folder}_rels/{main.rsplit('/', 1)[-1]}.rels"
    return dict(_sheet_map(parts.get(main, b"<w/>"), parts.get(rels_name, b"<r/>"), folder))


# Every workbook issued from one template shares these two parts byte for byte: parse them once.
@lru_cache(maxsize=64)
def _sheet_map(workbook: bytes, rels: bytes, folder: str) -> tuple[tuple[str, str], ...]:
    targets = {}
    for e in xml(rels):
        target = e.get("Target", "")
        targets[e.get("Id", "")] = target.lstrip("/") if target.startswith("/") else folder + target
    out = []
    for e in xml(workbook).iter():
        if _local(e.tag) == "sheet":
            rid = next((v for k, v in e.attrib.items() if k.startswith("{") and _local(k) == "id"), "")
            if rid in targets:
                out.append((e.get("name", ""), targets[rid]))
    return tuple(out)


# Cells and rows are the only elements with an r attribute holding a reference or a row number.
REF = re.compile(rb' r="([A-Z]{0,3})([0-9]{1,7})"')
FORMULA_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?)(?<!/)>(.*?)</(?:\w+:)?c>', re.S)
HAS_FORMULA = re.compile(rb'<(?:\w+:)?f[\s>/]')
FORMULA_TAG_END = frozenset(b" \t\n\r\x0b\x0c>/")  # what may follow the f of a formula tag, as \s>/ does
REF_ATTR = re.compile(rb'\br="([A-Z]{1,3}[0-9]{1,7})"')


FAR_REF = re.compile(rb' r="(?:[A-Z]{2}|[A-Z]?[0-9]{4})')


def sheet_extent(body: bytes) -> tuple[int, int, str]:
    """(rows, columns, last cell) that the sheet's cells span, from the XML alone."""
    if FAR_REF.search(body) is None:
        return 999, 26, "Z999"  # every reference is within A1:Z999: nothing to count
    refs = REF.findall(body)
    rows = max((int(n) for n in {n for _l, n in refs}), default=0)
    letters = max({letters for letters, _n in refs}, key=lambda x: (len(x), x), default=b"")
    cols = column_number(letters.decode()) if letters else 1
    return rows, cols, f"{letters.decode() or 'A'}{rows}"


def formula_cells(body: bytes) -> set[str]:
    """The refs of cells holding formulas: their cached values are never read as answers."""
    if not _has_formula_tag(body):
        return set()
    found = set()
    for attrs, inner in FORMULA_CELL.findall(body):
        if HAS_FORMULA.search(inner):
            ref = REF_ATTR.search(attrs)
            if ref:
                found.add(ref.group(1).decode())
    return found


def _has_formula_tag(body: bytes) -> bool:
    """``HAS_FORMULA.search(body)``, faster: the regex stops at every '<' of a sheet, while a
    formula tag always holds '<f' or ':f' (prefixed), so only those places are checked."""
    for needle in (b"<f", b":f"):
        at = body.find(needle)
        while at >= 0:
            if at + 2 < len(body) and body[at + 2] in FORMULA_TAG_END:
                start = at if needle == b"<f" else body.rfind(b"<", 0, at)  # \w+ holds no '<'
                if start >= 0 and HAS_FORMULA.match(body, start):
                    return True
            at = body.find(needle, at + 2)
    return False


def column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


@lru_cache(maxsize=1024)
def column_letters(number: int) -> str:
    out = ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def cell_ref(sheet: str, row: int, col: int) -> str:
    """Excel's own notation, 1-based: Assessment!E12, 'My sheet'!E12."""
    return f"{quote_sheet(sheet)}!{column_letters(col + 1)}{row + 1}"


@lru_cache(maxsize=256)
def quote_sheet(sheet: str) -> str:
    return sheet if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet) else "'" + sheet.replace("'", "''") + "'"


def text(value: object) -> str:
    """A cell value as text the way the workbook meant it, whatever type an app re-saved it as."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if (value.hour, value.minute, value.second) != (0, 0, 0) \
            else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


# --- the reader ----------------------------------------------------------------------------------

Grid = list[list[object]]
SIGNED = (*identity.FIELDS, "signature")
TYPED_ON_GENERIC = ("partnership_name", "region", "sector")
SHEET_LABELS = {label.casefold(): key for label, key in (*PARTNERSHIP_FIELDS, *RESPONDENT_FIELDS)}
META_LABELS = {key.casefold(): key for key in META_KEYS}


@dataclass(eq=False)
class _Place:
    """One of the three places a workbook carries its identity."""

    name: str  # as said to the user
    values: dict[str, str]
    cells: Mapping[str, str | tuple[str, int, int]]  # key -> its location, or the (sheet, row, column) of it

    def where(self, key: str, default: str) -> str:
        """Where ``key``'s value is, as the user sees it (only needed for a problem, so made on demand)."""
        found = self.cells.get(key)
        if found is None:
            return default
        return found if isinstance(found, str) else cell_ref(*found)

    @property
    def present(self) -> bool:
        return bool(self.values.get("rubric_hash") or self.values.get("signature"))


class _Reader:
    def __init__(self, data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes, limits: Limits):
        self.data, self.name, self.rubrics, self.key, self.limits = data, name, rubrics, key, limits
        self.problems: list[Problem] = []
        self.grids: dict[str, Grid] = {}
        self._label_cache: dict[tuple[str, int], dict[str, tuple[object, int, int]]] = {}

    def read(self) -> ReadResult:
        if len(self.data) > self.limits.max_bytes:
            return _reject(self.name, Kind.OTHER, problem(
                "MG-READ-002", self.name, size=_mb(len(self.data)), limit=_mb(self.limits.max_bytes)))
        kind, what = sniff(self.data)
        if kind is not None:
            return _reject(self.name, kind, problem(KIND_CODES[kind], self.name, what=what))
        try:
            self.parts = Parts(self.data, self.name, self.limits)
            kind, what = zip_kind(self.parts)
            if kind is not Kind.XLSX:
                return _reject(self.name, kind, problem(KIND_CODES[kind], self.name, what=what))
            self.part_of = sheet_parts(self.parts)
            self.book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self.data))
        except _Refused as refused:
            return _reject(self.name, refused.kind, refused.problem)
        except (python_calamine.CalamineError, SafeET.ParseError, ValueError) as exc:
            return _reject(self.name, Kind.DAMAGED, problem("MG-READ-003", self.name, reason=_calamine_reason(exc)))
        return self._read_xlsx()

    # Sheets are loaded lazily and only after their extent is checked.
    def grid(self, sheet: str) -> Grid:
        if sheet not in self.grids:
            body = self.parts.get(self.part_of.get(sheet, ""), b"")
            rows, cols, last = sheet_extent(body)
            if rows * cols > self.limits.max_cells:
                raise _Refused(Kind.DAMAGED, problem("MG-READ-016", self.name, sheet=sheet, cells=f"{rows * cols:,}", ref=last))
            self.grids[sheet] = self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        return self.grids[sheet]

    def find_sheet(self, preferred: str, looks_right) -> str | None:
        """The sheet by its name if its content is right, else the first sheet whose content is."""
        names = list(self.book.sheet_names)
        order = ([preferred] if preferred in names else []) + [n for n in names if n != preferred]
        for sheet in order:
            if looks_right(sheet):
                return sheet
        return None

    def labels(self, sheet: str, labels: Mapping[str, str]) -> dict[str, tuple[object, int, int]]:
        key = (sheet, id(labels))
        if key not in self._label_cache:
            self._label_cache[key] = _labels(self.grid(sheet), labels)
        return self._label_cache[key]

    def _read_xlsx(self) -> ReadResult:
        try:
            return self._read_checked()
        except _Refused as refused:
            return _reject(self.name, refused.kind, refused.problem)
        except python_calamine.CalamineError as exc:
            return _reject(self.name, Kind.DAMAGED, problem("MG-READ-003", self.name, reason=_calamine_reason(exc)))

    def _read_checked(self) -> ReadResult:
        meta_sheet = self.find_sheet(META, lambda s: {"rubric_hash", "signature"} <= self.labels(s, META_LABELS).keys())
        card_sheet = self.find_sheet(PARTNERSHIP, lambda s: {"partnership_id", "rubric_hash"} <= self.labels(s, SHEET_LABELS).keys())
        places = [
            self._labelled_place("hidden sheet", meta_sheet, META_LABELS),
            self._properties_place(),
            self._labelled_place(f"{card_sheet or PARTNERSHIP} sheet", card_sheet, SHEET_LABELS),
        ]
        card = places[2]
        present = [p for p in places if p.present]
        if not present:
            return self._rejected(problem("MG-READ-025", self.name))
        reference = present[0]
        generic = not reference.values.get("partnership_id")
        mismatch = self._cross_check(present, generic, card)
        if mismatch is not None:
            return self._rejected(mismatch)
        values = {k: reference.values.get(k, "") for k in SIGNED}
        if generic:  # a generic blank is signed with these empty; what is typed there is not signed
            values.update({k: "" for k in TYPED_ON_GENERIC})
        if not identity.verify(values, values["signature"], self.key):
            claims = f"; it names {values['partnership_name']!r}" if values.get("partnership_name") else ""
            return self._rejected(problem("MG-READ-027", self.name, claims=claims))
        if len(present) < len(places):
            missing = [p.name for p in places if not p.present]
            self.problems.append(problem("MG-READ-030", self.name, found=", ".join(p.name for p in present),
                                         missing=", ".join(missing)))
        ident = Identity(**{k: values[k] for k in identity.FIELDS}, signature=values["signature"])
        verified, source = True, ", ".join(p.name for p in present)
        typed_id = ""
        if generic:
            typed_id = card.values.get("partnership_id", "").strip()
            typed = {k: card.values.get(k, "") for k in TYPED_ON_GENERIC}
            ident = replace(ident, **typed)
            verified, source = False, "typed name"
            if typed["partnership_name"]:
                self.problems.append(problem("MG-READ-029", card.where("partnership_name", self.name)))
            else:
                self.problems.append(problem("MG-READ-028", card.where("partnership_name", f"{PARTNERSHIP}!B4")))

        rubric = self.rubrics.get(ident.rubric_hash)
        if rubric is None:
            return self._rejected(problem("MG-SCORE-001", self.name, rubric_id=ident.rubric_id or "?",
                                          version=ident.rubric_version or "?", hash=ident.rubric_hash[:12] or "?"),
                                  ident=ident, verified=verified, source=source)
        answers = self._answers(rubric)
        if answers is None:
            return self._rejected(problem("MG-READ-017", self.name), ident=ident, verified=verified, source=source)
        respondent = {key: card.values.get(key, "") for _label, key in RESPONDENT_FIELDS}
        return ReadResult(
            name=self.name, kind=Kind.XLSX, problems=tuple(self.problems), rejected=False, identity=ident,
            verified=verified, identity_source=source, rubric=rubric, answers=answers, respondent=respondent,
            typed_id=typed_id,
        )

    def _rejected(self, found: Problem, ident: Identity | None = None, verified: bool = False, source: str = "") -> ReadResult:
        return ReadResult(name=self.name, kind=Kind.XLSX, problems=(*self.problems, found), rejected=True,
                          identity=ident, verified=verified, identity_source=source)

    # --- identity ---

    def _labelled_place(self, place: str, sheet: str | None, labels: Mapping[str, str]) -> _Place:
        if sheet is None:
            return _Place(place, {}, {})
        found = self.labels(sheet, labels)
        return _Place(place, {k: text(v) for k, (v, _r, _c) in found.items()},
                      {k: (sheet, r, c) for k, (_v, r, c) in found.items()})

    def _properties_place(self) -> _Place:
        part = next((n for n in self.parts.keys() if n.lower().endswith("docprops/custom.xml")), None)
        values: dict[str, str] = {}
        if part is not None:
            for name, value in top_elements(self.parts[part]):
                if name.startswith(PROP_PREFIX):
                    value = value.strip()
                    values[name[len(PROP_PREFIX):]] = "" if value == "-" else value
        return _Place("properties", values, {k: f"document property {PROP_PREFIX}{k}" for k in values})

    def _cross_check(self, present: list[_Place], generic: bool, card: _Place) -> Problem | None:
        reference = present[0]
        for other in present[1:]:
            for key in SIGNED:
                if generic and key in (*TYPED_ON_GENERIC, "partnership_id") and card in (reference, other):
                    continue  # a generic blank's respondent types these on the Partnership sheet
                expected, found = reference.values.get(key, ""), other.values.get(key, "")
                if found != expected:
                    return problem("MG-READ-026", other.where(key, other.name), field=key, found=found,
                                   expected=expected, other=reference.where(key, reference.name))
        return None

    # --- answers ---

    def _answers(self, rubric: Rubric) -> tuple[Answer, ...] | None:
        headers: dict[str, tuple[int, dict[str, int]] | None] = {}
        sheet = self.find_sheet(ASSESSMENT, lambda s: headers.setdefault(s, _header(self.grid(s))) is not None)
        if sheet is None:
            return None
        grid = self.grid(sheet)
        header_row, cols = headers[sheet]  # type: ignore[misc]
        formulas = formula_cells(self.parts.get(self.part_of.get(sheet, ""), b""))
        choices = ", ".join(r.label for r in rubric.responses)
        by_id = {c.id.casefold(): c.id for c in rubric.criteria}
        rows: dict[str, list[int]] = {}
        for r in range(header_row + 1, len(grid)):
            raw_id = text(_at(grid, r, cols["id"]))
            if not raw_id:
                continue
            cid = by_id.get(raw_id.casefold())
            if cid is not None:
                rows.setdefault(cid, []).append(r)
            elif ID_LIKE.match(raw_id) or text(_at(grid, r, cols["response"])):
                self.problems.append(problem("MG-READ-020", cell_ref(sheet, r, cols["id"]), id=raw_id))

        rc, ec = cols["response"], cols.get("evidence")
        column = column_letters(rc + 1)
        in_sheet = f"{quote_sheet(sheet)}!{column}"

        def one(cid: str, r: int) -> tuple[Answer, Problem | None]:
            ref = f"{in_sheet}{r + 1}"
            raw = _at(grid, r, rc)
            value = text(raw)
            evidence = text(_at(grid, r, ec)) if ec is not None else ""
            if formulas and f"{column}{r + 1}" in formulas:
                return Answer(cid, value, None, evidence, ref), problem("MG-READ-023", ref, id=cid, choices=choices)
            if value == "":
                return Answer(cid, "", None, evidence, ref), problem("MG-READ-021", ref, id=cid, choices=choices)
            response = rubric.match_response(raw)
            if response is None:
                return Answer(cid, value, None, evidence, ref), problem("MG-READ-022", ref, value=value, id=cid, choices=choices)
            return Answer(cid, value, response, evidence, ref), None

        answers = []
        for c in rubric.criteria:
            found = rows.get(c.id)
            if not found:
                self.problems.append(problem("MG-READ-018", sheet, id=c.id))
                continue
            candidates = [one(c.id, r) for r in found]
            first, issue = candidates[0]
            if len(candidates) > 1:
                where = ", ".join(a.cell for a, _ in candidates)
                same = len({(normalise_answer_text(a.raw), a.response) for a, _ in candidates}) == 1
                if not same:
                    self.problems.append(problem("MG-READ-019", first.cell, id=c.id, count=len(found), rows=where))
                    answers.append(replace(first, response=None))
                    continue
                self.problems.append(problem("MG-READ-024", first.cell, id=c.id, count=len(found), rows=where))
            if issue is not None:
                self.problems.append(issue)
            answers.append(first)
        return tuple(answers)


ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


def _at(grid: Grid, row: int, col: int | None) -> object:
    if col is None or row >= len(grid) or col >= len(grid[row]):
        return None
    return grid[row][col]


def _labels(grid: Grid, labels: Mapping[str, str]) -> dict[str, tuple[object, int, int]]:
    """key -> (value to the right of its label, row, column of the value); first label wins."""
    found: dict[str, tuple[object, int, int]] = {}
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell:
                key = labels.get(_label_key(cell))
                if key is not None and key not in found:
                    found[key] = (row[c + 1] if c + 1 < len(row) else None, r, c + 1)
    return found


@lru_cache(maxsize=4096)  # the labels are the same cells in every workbook
def _label_key(cell: str) -> str:
    return " ".join(cell.split()).casefold()


HEADER_SCAN_ROWS = 200


def _header(grid: Grid) -> tuple[int, dict[str, int]] | None:
    """The Assessment header row and the columns of ID, Response and Evidence, wherever they are."""
    for r, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        cols: dict[str, int] = {}
        for c, cell in enumerate(row):
            if isinstance(cell, str):
                name = cell.strip().casefold()
                if name in ("id", "response", "evidence") and name not in cols:
                    cols[name] = c
        if "id" in cols and "response" in cols:
            return r, cols
    return None


def _calamine_reason(exc: BaseException) -> str:
    return f"the reader says: {str(exc)[:120]}" if str(exc) else type(exc).__name__
