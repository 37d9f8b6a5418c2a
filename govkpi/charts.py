"""Small trend charts of a KPI's months, drawn with matplotlib in the project's CJK font (ADR 0031).

One chart per KPI and area: the year's monthly values as a line, the same
months of the year before in grey, and the month labels in Chinese. The
report embeds them (SVG in HTML, PNG in PDF), the dashboard inlines the
SVG. matplotlib's object API is used without pyplot, so the dashboard's
threads each draw their own figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from govkpi import fonts

MONTH_LABELS = tuple(f"{m}月" for m in range(1, 13))
LINE = "#1f5fa8"
LAST_YEAR = "#b0b0b0"


def _font_properties():
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(fonts.font_file("".join(MONTH_LABELS) + "上年本年")), size=7)


def sparkline(
    months: Sequence[Decimal | float | None],
    last_year: Sequence[Decimal | float | None] = (),
    *,
    fmt: str = "svg",
    width: float = 2.6,
    height: float = 0.8,
    dpi: int = 150,
) -> bytes:
    """The chart of 12 monthly values (None: no value that month) as SVG or PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if fmt not in ("svg", "png"):
        raise ValueError(f"chart format {fmt!r}: svg or png")
    font = _font_properties()
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.02, 0.28, 0.96, 0.68))
    x = list(range(1, 13))

    def series(values):
        return [None if v is None else float(v) for v in list(values)[:12]] + [None] * (12 - len(list(values)[:12]))

    if last_year:
        axes.plot(x, [float("nan") if v is None else v for v in series(last_year)], color=LAST_YEAR, linewidth=1)
    this_year = series(months)
    axes.plot(x, [float("nan") if v is None else v for v in this_year], color=LINE, linewidth=1.6, marker="o", markersize=2)
    latest = max((i for i, v in enumerate(this_year) if v is not None), default=None)
    if latest is not None:
        axes.plot([latest + 1], [this_year[latest]], color=LINE, marker="o", markersize=4)
    axes.set_xlim(0.5, 12.5)
    axes.set_xticks([1, 6, 12], [MONTH_LABELS[0], MONTH_LABELS[5], MONTH_LABELS[11]], fontproperties=font)
    axes.set_yticks([])
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color("#999999")
    axes.tick_params(axis="x", length=2, pad=1, colors="#555555")
    out = io.BytesIO()
    # svg.fonttype none would leave the labels to the reader's fonts; paths draw them everywhere
    figure.savefig(out, format=fmt, transparent=fmt == "svg", metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()


def svg_inline(data: bytes) -> str:
    """An SVG chart for inlining into HTML: without the XML declaration and DOCTYPE."""
    text = data.decode("utf-8")
    return text[text.index("<svg"):]
