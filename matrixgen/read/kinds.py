"""What a returned file is, told by its content, and the limits a file must keep to be opened."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Mapping

MB = 1024 * 1024


def mb(size: int) -> str:
    return f"{size / MB:.1f}"


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
