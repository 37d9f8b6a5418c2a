"""The CJK font the report and the dashboard draw Chinese with, from a Python package (ADR 0031).

A county office's machine may have no Chinese font at all (a server, a
fresh container), and a PDF or a headless browser without one draws
missing-glyph boxes. govkpi therefore brings its own: Noto Sans SC (SIL
Open Font License 1.1), installed from PyPI by `justmytype-intl-cjk`, a
variable TrueType font of 30,000 characters.

Documents never carry the whole font (17 MB). `font_bytes(text)` cuts it to
the characters a document uses and fixes the weight (the variable font's
default is Thin): about 30 KB for a report, in half a second. The same
subset serves the PDF (embedded by fpdf2), the HTML report and the
dashboard (a `@font-face` of WOFF data), and the charts (matplotlib reads
it from a file).
"""

from __future__ import annotations

import functools
import hashlib
import io
import tempfile
from pathlib import Path

from govkpi.errors import GovkpiError

FAMILY = "Noto Sans SC"
REGULAR = 400
BOLD = 700
# Characters every document may draw besides its own text: digits, Latin
# letters and the punctuation of figures and labels.
BASIC = "".join(chr(c) for c in range(0x20, 0x7F)) + "％，。：；（）【】《》、—–·…“”‘’↑↓→▲▼●○■□"


class FontError(GovkpiError):
    """The CJK font package is missing or unreadable."""


@functools.cache
def source_path() -> Path:
    """The variable Noto Sans SC file of the installed font package."""
    try:
        import justmytype_intl_cjk
    except ImportError as exc:
        raise FontError(
            "the Chinese font package is not installed: run ./scripts/setup "
            "(it installs justmytype-intl-cjk from requirements.txt)"
        ) from exc
    found = sorted(Path(justmytype_intl_cjk.__file__).parent.glob("fonts/ofl/notosanssc/*.ttf"))
    if not found:
        raise FontError(f"no Noto Sans SC font in {Path(justmytype_intl_cjk.__file__).parent}: reinstall justmytype-intl-cjk")
    return found[0]


@functools.lru_cache(maxsize=32)
def _subset(characters: str, weight: int, flavor: str | None) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    font = TTFont(source_path(), lazy=True)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    try:
        # names from the font's STAT table: "Noto Sans SC Regular", not the variable default's "Thin"
        static = instancer.instantiateVariableFont(font, {"wght": weight}, updateFontNames=True)
    except Exception:  # noqa: BLE001 - a font without usable STAT names is still the right outlines
        font = TTFont(source_path(), lazy=True)
        subsetter.subset(font)
        static = instancer.instantiateVariableFont(font, {"wght": weight})
    static.flavor = flavor
    out = io.BytesIO()
    static.save(out)
    return out.getvalue()


def font_bytes(text: str, *, weight: int = REGULAR, flavor: str | None = None) -> bytes:
    """A static TrueType font (`flavor='woff'`: WOFF) with the glyphs of `text` and the basic characters."""
    characters = "".join(sorted(set(text) | set(BASIC)))
    return _subset(characters, weight, flavor)


def font_file(text: str, *, weight: int = REGULAR, directory: Path | None = None) -> Path:
    """`font_bytes(text)` written to a file (for libraries that open fonts by path); returns the path."""
    data = font_bytes(text, weight=weight)
    folder = directory or Path(tempfile.gettempdir()) / "govkpi-fonts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"NotoSansSC-{weight}-{hashlib.sha256(data).hexdigest()[:16]}.ttf"
    if not path.exists():
        partial = path.with_suffix(".tmp")
        partial.write_bytes(data)
        partial.replace(path)
    return path


def missing_characters(text: str) -> set[str]:
    """The characters of `text` (other than whitespace) the font has no glyph for."""
    cmap = _cmap()
    return {c for c in set(text) if not c.isspace() and ord(c) not in cmap}


@functools.cache
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(source_path(), lazy=True).getBestCmap())
