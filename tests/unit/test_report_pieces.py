"""The report's parts that need no warehouse: the CJK font subset, the figures' formats, the trend chart."""

from __future__ import annotations

import io
from decimal import Decimal

from fontTools.ttLib import TTFont

from govkpi import charts, fonts
from govkpi.report import format_number


def test_the_font_subset_has_the_documents_characters_at_the_weight_asked():
    text = "参加培训人数 571 人，取证率 91.77%"
    for weight in (fonts.REGULAR, fonts.BOLD):
        font = TTFont(io.BytesIO(fonts.font_bytes(text, weight=weight)))
        cmap = font.getBestCmap()
        assert all(ord(c) in cmap for c in set(text)), [c for c in text if ord(c) not in cmap]
        assert "fvar" not in font, "a static instance, not the variable font"
        assert font["OS/2"].usWeightClass == weight
        assert ord("病") not in cmap, "only the characters asked for (and the basic set)"
    woff = fonts.font_bytes(text, flavor="woff")
    assert woff[:4] == b"wOFF" and len(woff) < 60_000
    assert fonts.missing_characters("培训\U00013000") == {"\U00013000"}


def test_figures_are_formatted_as_people_read_them():
    assert format_number(Decimal("571"), "person") == "571"
    assert format_number(Decimal("1242"), "count") == "1,242"
    assert format_number(Decimal("91.7688"), "pct") == "91.77"
    assert format_number(Decimal("690879.03"), "yuan") == "690,879.03"
    assert format_number(Decimal("46.5"), "days") == "46.50"
    assert format_number(None, "count") == "–"


def test_the_trend_chart_draws_the_months_with_chinese_labels():
    svg = charts.sparkline([1, 2, None, 4] + [None] * 8, [2] * 12).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # the labels are drawn as glyph paths of the project's font, not left to the reader's fonts
    assert "<text" not in svg and "1月" in svg and svg.count("<path") > 10
    png = charts.sparkline([1, 2, 3] + [None] * 9, fmt="png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts.svg_inline(svg.encode()).startswith("<svg")
