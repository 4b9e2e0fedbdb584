"""Build the report fonts in templates/fonts/ from Debian's font packages; run when the sets change.

    .venv/bin/python tools/make_fonts.py

- ``ReportSans-Regular.ttf``, ``ReportSans-Bold.ttf``: Liberation Sans 2.1.5 (fonts-liberation2)
  cut down to the characters a report can need: Basic Latin, Latin-1 Supplement, Latin
  Extended-A, General Punctuation and the arrows and signs the templates use. Every report
  embeds a subset of these; cutting the 410 KB originals once to about a fifth makes that
  per-report subsetting cheap with fontTools too, when HarfBuzz's subsetter is not installed.
- ``ReportSymbols.ttf``, ``ReportSymbols-Bold.ttf``: the answer symbols ● ◐ ○ ▲ from DejaVu Sans
  (fonts-dejavu-core); Liberation Sans has no usable half-filled circle. Text reaches them by
  font fallback, bold text too (a bold face of its own, so none is synthesised).

Both licences allow modified copies under another name: the Liberation fonts reserve the name
"Liberation" (SIL OFL 1.1), DejaVu forbids "Bitstream" and "Vera". Hence "Report Sans" and
"Report Symbols"; the licences are kept beside the fonts.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

FONTS = Path(__file__).resolve().parent.parent / "templates" / "fonts"
LIBERATION = Path("/usr/share/fonts/truetype/liberation2")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

TEXT_RANGES = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x0100, 0x017F),  # Latin Extended-A
    (0x2000, 0x206F),  # General Punctuation: dashes, quotes, bullets, ellipsis
    (0x2190, 0x2193),  # ← ↑ → ↓ (progress since last round)
)
TEXT_EXTRA = "◄−€™"  # "you are here", a minus sign, and two signs respondents type
SYMBOLS = " ●◐○▲"  # the space too: "▲ ●" must not fall back to a system font


def cut(source: Path, target: Path, unicodes: list[int], family: str, style: str) -> None:
    font = TTFont(source, recalcTimestamp=False)  # the same bytes every run
    options = subset.Options()
    options.hinting = False  # a PDF viewer does its own rendering; hints only add bytes
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    full = family if style == "Regular" else f"{family} {style}"
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID == 4:
            record.string = full
        elif record.nameID in (3, 6):
            record.string = full.replace(" ", "-") if style != "Regular" else family.replace(" ", "")
    font.save(target)
    print(f"wrote {target} ({target.stat().st_size:,} bytes, {len(font.getGlyphOrder())} glyphs)")


def main() -> None:
    text = sorted({c for low, high in TEXT_RANGES for c in range(low, high + 1)} | {ord(c) for c in TEXT_EXTRA})
    for style in ("Regular", "Bold"):
        cut(LIBERATION / f"LiberationSans-{style}.ttf", FONTS / f"ReportSans-{style}.ttf", text, "Report Sans", style)
    for style, source in (("Regular", "DejaVuSans.ttf"), ("Bold", "DejaVuSans-Bold.ttf")):
        suffix = "" if style == "Regular" else "-Bold"
        cut(DEJAVU / source, FONTS / f"ReportSymbols{suffix}.ttf", [ord(c) for c in SYMBOLS], "Report Symbols", style)


if __name__ == "__main__":
    main()
