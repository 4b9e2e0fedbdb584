"""Build templates/fonts/ReportSymbols.ttf: the four answer symbols, cut from DejaVu Sans.

Liberation Sans has no usable half-filled circle, so the report takes ● ◐ ○ ▲ from DejaVu Sans
(Debian's fonts-dejavu-core). Its licence allows modified copies under a name without
"Bitstream" or "Vera"; this subset is named "Report Symbols". Run once when the set changes:

    .venv/bin/python tools/make_symbol_font.py
"""

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TARGET = Path(__file__).resolve().parent.parent / "templates" / "fonts" / "ReportSymbols.ttf"
SYMBOLS = " ●◐○▲"  # the space too: "▲ ●" must not fall back to a system font
NAME = "Report Symbols"


def main() -> None:
    font = TTFont(SOURCE)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=SYMBOLS)
    subsetter.subset(font)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 16):
            record.string = NAME
        elif record.nameID in (4,):
            record.string = NAME
        elif record.nameID in (3, 6):
            record.string = NAME.replace(" ", "")
    font.save(TARGET)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
