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


from .kinds import (
    ARCHIVE_EXT,
    DEFAULT_LIMITS,
    KIND_CODES,
    Kind,
    Limits,
    sniff,
    zip_kind,
)
from .parts import (
    Parts,
    cell_ref,
    column_letters,
    column_number,
    quote_sheet,
    sheet_extent,
    text,
    zip_entries,
)
from .workbook import Answer, ReadResult, read_file, read_workbook, skip_reason

__all__ = [
    "ARCHIVE_EXT", "DEFAULT_LIMITS", "KIND_CODES", "Answer", "Kind", "Limits", "Parts", "ReadResult", "cell_ref",
    "column_letters", "column_number", "quote_sheet", "read_file", "read_workbook", "sheet_extent", "skip_reason",
    "sniff", "text", "zip_entries", "zip_kind",
]
