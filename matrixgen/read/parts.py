"""A returned zip's parts, bounded before anything parses them; sheet XML scanned for extent and
formulas; cell references as Excel writes them; the per-file time budget."""

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
from datetime import date, datetime
from functools import lru_cache
from typing import Iterator, Mapping
from xml.etree.ElementTree import Element
from xml.parsers.expat import ExpatError

from defusedxml import ElementTree as SafeET

from ..errors import Problem, problem
from .kinds import MB, Kind, Limits
from .kinds import mb as _mb

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
