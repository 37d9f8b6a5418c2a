"""The governance report a township head or the county reads: each department's KPIs for a year, from the published warehouse.

`govkpi report --year 2023 [--area AREA] --format html|xlsx|pdf --out FILE`
reads only what is published: `marts` (values, targets and status,
comparisons, monthly trends, the catalogue, the areas) and the publication
log (which publication, from which files, after which checks). It writes:

- xlsx, the workbook a clerk forwards: an about sheet, then one sheet per
  department, Chinese labels first, the figures with number formats by
  unit, the status coloured, frozen headers, and each figure's lineage;
- html, one self-contained page (its font and charts inside it): per
  department a table of the KPIs with a trend chart each and a footnote per
  figure naming the publication, the files and the checks behind it;
- pdf, the same report for print, its Chinese drawn in the font govkpi
  installs (govkpi.fonts, ADR 0031).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from govkpi import schemas
from govkpi.errors import GovkpiError
from govkpi.kpi_registry import Registry

log = logging.getLogger(__name__)

DEPARTMENTS = (
    ("hrss", "人社", "Human resources and social security"),
    ("health", "医共体", "County health alliance"),
    ("enforcement", "综合执法", "Administrative enforcement"),
)
STATUS_ZH = {"green": "达标", "amber": "接近", "red": "未达标", "no_data": "无数据"}
STATUS_FILL = {"green": "C6EFCE", "amber": "FFEB9C", "red": "FFC7CE", "no_data": "EDEDED"}
UNIT_FORMAT = {
    "count": "#,##0",
    "person": "#,##0",
    "pct": "0.00",
    "yuan": "#,##0.00",
    "days": "0.00",
    "hours": "0.00",
}
UNIT_ZH = {"count": "个/次", "person": "人", "pct": "%", "yuan": "元", "days": "天", "hours": "小时"}
COLUMNS = (
    ("指标", "KPI"),
    ("指标（英文）", "KPI (English)"),
    ("单位", "Unit"),
    ("数值", "Value"),
    ("目标", "Target"),
    ("完成率 %", "Attainment %"),
    ("状态", "Status"),
    ("上年同期", "Last year"),
    ("同比增减", "Change on last year"),
    ("同比 %", "Change on last year %"),
    ("排名", "Rank"),
    ("参与排名", "Areas ranked"),
    ("口径版本", "Definition version"),
    ("来源", "Lineage"),
)


class ReportError(GovkpiError):
    """The report cannot be made (nothing published, unknown area, no values for the year)."""


@dataclass(frozen=True)
class Report:
    """What the report shows: the area, year, publication and one row per KPI."""

    year: int
    area_code: str
    area_name_zh: str
    area_name_en: str
    area_level: str
    publication_id: int
    published_at: dt.datetime
    files: int
    rows: list[dict[str, Any]]
    validation_run_id: int | None = None
    # kpi_code -> (the year's 12 monthly values, the year before's), None where no value
    trends: dict[str, tuple[list[Any], list[Any]]] = field(default_factory=dict)
    # kpi_code -> {"models": [...], "checks_passed": n, "checks": n}
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # department -> the publication's files of that department for the year
    source_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def gather(conn: psycopg.Connection, *, year: int, area: str | None = None, registry: Registry | None = None) -> Report:
    """The year's published KPI totals of `area` (default: the county) with targets, status, comparisons and lineage.

    With `registry` (the KPI registry), each KPI also gets the checks of the
    publication's validation run on the models it reads.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        publication = cur.execute(
            f"select publication_id, published_at, cardinality(file_ids) as files, file_ids, validation_run_id "
            f"from {schemas.AUDIT}.publication order by publication_id desc limit 1"
        ).fetchone()
        if publication is None:
            raise ReportError("nothing is published yet: run `govkpi run` first")
        if area is None:
            found = cur.execute(
                f"select * from {schemas.PUBLISHED}.dim_area where area_level = 'county' order by area_code limit 1"
            ).fetchone()
        else:
            found = cur.execute(
                f"select * from {schemas.PUBLISHED}.dim_area where area_code = %s or name_zh = %s", (area, area)
            ).fetchone()
        if found is None:
            known = [r["area_code"] for r in cur.execute(
                f"select area_code from {schemas.PUBLISHED}.dim_area where area_level <> 'village' order by area_code"
            ).fetchall()]
            raise ReportError(f"no area {area!r} in the published dim_area; the county and townships are: {', '.join(known)}")
        rows = cur.execute(
            f"""
            select k.kpi_code, k.department, k.name_zh, k.name_en, k.unit, k.direction,
                v.value, s.target_value, s.attainment_pct, s.status, s.kpi_version, s.target_version,
                c.last_year_value, c.change_on_last_year, c.change_on_last_year_pct,
                c.rank_in_parent, c.ranked_areas
            from {schemas.PUBLISHED}.dim_kpi as k
            left join {schemas.PUBLISHED}.fct_kpi_value as v
                on v.kpi_code = k.kpi_code and v.period_grain = 'year' and v.period_start_date = make_date(%(year)s, 1, 1)
                and v.area_code = %(area)s and v.breakdown_dimension is null
            left join {schemas.PUBLISHED}.fct_kpi_status as s
                on s.kpi_code = k.kpi_code and s.period_grain = 'year' and s.period_start_date = make_date(%(year)s, 1, 1)
                and s.area_code = %(area)s
            left join {schemas.PUBLISHED}.fct_kpi_comparison as c
                on c.kpi_code = k.kpi_code and c.period_grain = 'year' and c.period_start_date = make_date(%(year)s, 1, 1)
                and c.area_code = %(area)s and c.breakdown_dimension is null
            order by k.department, k.kpi_code
            """,
            {"year": year, "area": found["area_code"]},
        ).fetchall()
        if not any(r["value"] is not None for r in rows):
            raise ReportError(f"publication {publication['publication_id']} has no {year} values for {found['area_code']}")
        trends = _trends(cur, year, found["area_code"])
        source_files = _source_files(cur, year, [int(f) for f in publication["file_ids"] or []])
        checks = _checks(cur, publication["validation_run_id"], registry, [r["kpi_code"] for r in rows]) if registry else {}
    return Report(
        year=year,
        area_code=found["area_code"],
        area_name_zh=found["name_zh"],
        area_name_en=found["name_en"],
        area_level=found["area_level"],
        publication_id=int(publication["publication_id"]),
        published_at=publication["published_at"],
        files=int(publication["files"] or 0),
        rows=rows,
        validation_run_id=publication["validation_run_id"],
        trends=trends,
        checks=checks,
        source_files=source_files,
    )


def _trends(cur, year: int, area_code: str) -> dict[str, tuple[list[Any], list[Any]]]:
    """Each KPI's monthly values of `year` and the year before (None for a month without a value)."""
    trends: dict[str, tuple[list[Any], list[Any]]] = {}
    for r in cur.execute(
        f"""
        select kpi_code, extract(year from period_start_date)::int as year, extract(month from period_start_date)::int as month, value
        from {schemas.PUBLISHED}.fct_kpi_value
        where period_grain = 'month' and area_code = %s and breakdown_dimension is null
            and period_start_date >= make_date(%s, 1, 1) and period_start_date < make_date(%s, 1, 1)
        """,
        (area_code, year - 1, year + 1),
    ).fetchall():
        months = trends.setdefault(r["kpi_code"], ([None] * 12, [None] * 12))
        months[0 if r["year"] == year else 1][r["month"] - 1] = r["value"]
    return trends


def _source_files(cur, year: int, file_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """The publication's files of the year (by delivery period), per department."""
    files: dict[str, list[dict[str, Any]]] = {}
    for r in cur.execute(
        f"select department, extract_name, period, file_name, sha256, rows_loaded from {schemas.AUDIT}.load_manifest "
        "where file_id = any(%s) and period like %s order by department, extract_name, period, file_name",
        (file_ids, f"{year}-%"),
    ).fetchall():
        files.setdefault(r["department"], []).append(r)
    return files


def _checks(cur, validation_run_id: int | None, registry: Registry, kpi_codes: list[str]) -> dict[str, dict[str, Any]]:
    """Per KPI: the publication's checks (dbt tests and GX) on the models it reads and on the KPI marts."""
    if validation_run_id is None:
        return {}
    results = cur.execute(
        f"select relation, success from {schemas.AUDIT}.validation_result where validation_run_id = %s",
        (validation_run_id,),
    ).fetchall()
    by_relation: dict[str, list[bool]] = {}
    for r in results:
        by_relation.setdefault((r["relation"] or "").rsplit(".", 1)[-1], []).append(bool(r["success"]))
    checks = {}
    for code in kpi_codes:
        models = [*registry.models(code), "fct_kpi_value", "fct_kpi_status"] if code in registry.measures else []
        outcomes = [ok for m in models for ok in by_relation.get(m, [])]
        checks[code] = {"models": models, "checks": len(outcomes), "checks_passed": sum(outcomes)}
    return checks


def lineage_note(report: Report, kpi_code: str) -> str:
    return f"发布 publication {report.publication_id}; govkpi lineage {kpi_code}"


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def write_xlsx(report: Report, path: Path) -> Path:
    """The workbook: an about sheet, then one sheet per department; returns `path`."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    about = workbook.active
    about.title = "说明 About"
    title = f"{report.area_name_zh} {report.year} 年度治理效能指标 / {report.area_name_en}: governance KPIs {report.year}"
    about_rows = [
        (title,),
        (),
        ("地区 Area", f"{report.area_name_zh} ({report.area_code}, {report.area_level})"),
        ("年度 Year", report.year),
        ("发布 Publication", report.publication_id),
        ("发布时间 Published at", report.published_at.astimezone(dt.timezone.utc).replace(tzinfo=None)),
        ("源文件数 Source files", report.files),
        ("追溯 Lineage", f"govkpi audit publication {report.publication_id}; govkpi lineage <kpi_code>"),
        ("说明 Note", "数据来自已发布的数据仓库（marts）。样例数据为合成数据。 / From the published warehouse (marts). The sample data are synthetic."),
    ]
    for row in about_rows:
        about.append(row)
    about["A1"].font = Font(bold=True, size=14)
    about["B6"].number_format = "yyyy-mm-dd hh:mm:ss"
    about.column_dimensions["A"].width = 24
    about.column_dimensions["B"].width = 90

    for code, name_zh, name_en in DEPARTMENTS:
        rows = [r for r in report.rows if r["department"] == code]
        if not rows:
            continue
        sheet = workbook.create_sheet(f"{name_zh} {code}")
        sheet.append((f"{name_zh} / {name_en} — {report.area_name_zh} {report.year}",))
        sheet["A1"].font = Font(bold=True, size=12)
        sheet.append(tuple(f"{zh}\n{en}" for zh, en in COLUMNS))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for r in rows:
            status = r["status"]
            sheet.append(
                (
                    r["name_zh"],
                    r["name_en"],
                    UNIT_ZH.get(r["unit"], r["unit"]),
                    _number(r["value"]),
                    _number(r["target_value"]),
                    _number(r["attainment_pct"]),
                    f"{STATUS_ZH[status]} {status}" if status else None,
                    _number(r["last_year_value"]),
                    _number(r["change_on_last_year"]),
                    _number(r["change_on_last_year_pct"]),
                    r["rank_in_parent"],
                    r["ranked_areas"],
                    r["kpi_version"],
                    lineage_note(report, r["kpi_code"]),
                )
            )
            line = sheet.max_row
            number_format = UNIT_FORMAT.get(r["unit"], "General")
            for column in (4, 5, 8, 9):
                sheet.cell(line, column).number_format = number_format
            for column in (6, 10):
                sheet.cell(line, column).number_format = "0.00"
            if status:
                sheet.cell(line, 7).fill = PatternFill("solid", fgColor=STATUS_FILL[status])
        sheet.freeze_panes = "B3"
        widths = (22, 36, 8, 14, 14, 12, 14, 14, 14, 12, 8, 10, 10, 44)
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.row_dimensions[2].height = 32
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    log.info("report of %s %s written to %s", report.area_code, report.year, path)
    return path


# --------------------------------------------------------------------------
# HTML and PDF
# --------------------------------------------------------------------------

WEB_COLUMNS = (
    ("指标", "KPI"),
    ("数值", "Value"),
    ("目标", "Target"),
    ("完成率 %", "Attainment"),
    ("状态", "Status"),
    ("同比增减", "On last year"),
    ("排名", "Rank"),
    ("月度趋势", "Months (grey: last year)"),
)


def format_number(value: Decimal | float | int | None, unit: str | None) -> str:
    """A figure as people read it: thousands separators, two decimals for rates, amounts and durations."""
    if value is None:
        return "–"
    number = Decimal(str(value))
    if unit in ("count", "person") and number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}"


def _signed(value: Decimal | None, unit: str | None) -> str:
    if value is None:
        return ""
    text = format_number(value, unit)
    return text if text.startswith("-") or value == 0 else "+" + text


def _rank(row: dict[str, Any]) -> str:
    if row.get("rank_in_parent") is None:
        return ""
    return f"{row['rank_in_parent']}/{row['ranked_areas']}"


def document_rows(report: Report, *, chart_format: str | None = "svg") -> list[dict[str, Any]]:
    """Per department, its KPI rows formatted for people, with a footnote number and a chart each."""
    from govkpi import charts

    departments = []
    footnote = 0
    for code, name_zh, name_en in DEPARTMENTS:
        rows = []
        for r in (r for r in report.rows if r["department"] == code):
            footnote += 1
            months, last_year = report.trends.get(r["kpi_code"], ([None] * 12, [None] * 12))
            chart = None
            if chart_format is not None and any(v is not None for v in months):
                chart = charts.sparkline(months, last_year, fmt=chart_format, **({"width": 3.4, "height": 0.62} if chart_format == "png" else {}))
                if chart_format == "svg":
                    chart = charts.svg_inline(chart)
            rows.append(
                {
                    **r,
                    "footnote": footnote,
                    "unit_zh": UNIT_ZH.get(r["unit"], r["unit"]),
                    "value": format_number(r["value"], r["unit"]),
                    "target": format_number(r["target_value"], r["unit"]) if r["target_value"] is not None else "",
                    "attainment": format_number(r["attainment_pct"], "pct") if r["attainment_pct"] is not None else "",
                    "change_on_last_year": _signed(r["change_on_last_year"], r["unit"]),
                    "change_on_last_year_pct": _signed(r["change_on_last_year_pct"], "pct"),
                    "rank": _rank(r),
                    "chart": chart,
                    "checks": report.checks.get(r["kpi_code"]),
                }
            )
        if rows:
            departments.append(
                {"code": code, "name_zh": name_zh, "name_en": name_en, "rows": rows, "files": report.source_files.get(code, [])}
            )
    return departments


def _published_at(report: Report) -> str:
    return report.published_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _status_counts(report: Report) -> dict[str, int]:
    statuses = [r["status"] for r in report.rows]
    return {s: statuses.count(s) for s in STATUS_ZH}


def template_environment():
    """The Jinja environment of govkpi's page templates (autoescaped)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("govkpi", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page_font_faces(text: str) -> dict[str, str]:
    """Base64 WOFF data of the project's CJK font, regular and bold, cut to `text`'s characters."""
    import base64

    from govkpi import fonts

    return {
        "font_regular": base64.b64encode(fonts.font_bytes(text, flavor="woff")).decode("ascii"),
        "font_bold": base64.b64encode(fonts.font_bytes(text, weight=fonts.BOLD, flavor="woff")).decode("ascii"),
    }


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page: its font and charts inside it."""
    environment = template_environment()
    template = environment.get_template("report.html.j2")
    context = {
        "r": report,
        "departments": document_rows(report),
        "columns": WEB_COLUMNS,
        "status_zh": STATUS_ZH,
        "counts": _status_counts(report),
        "published_at": _published_at(report),
    }
    # the font is cut to the characters the page shows: render once without it to learn them
    draft = template.render(**context, font_regular="", font_bold="")
    return template.render(**context, **page_font_faces(draft))


def write_html(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    log.info("HTML report of %s %s written to %s", report.area_code, report.year, path)
    return path


def write_pdf(report: Report, path: Path) -> Path:
    """The report for print (A4 landscape), in the project's CJK font, with a chart per KPI."""
    import io

    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from govkpi import fonts

    departments = document_rows(report, chart_format="png")
    # the font is cut to the characters drawn: the HTML page's text holds every label and
    # figure, PDF_TEXT the few phrases only the PDF writes
    text = render_html(report) + PDF_TEXT
    folder = path.parent / f".{path.name}.fonts"
    regular = fonts.font_file(text, directory=folder)
    bold = fonts.font_file(text, weight=fonts.BOLD, directory=folder)

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_creator("govkpi report")
    pdf.set_title(f"{report.area_name_zh} {report.year} 年度治理效能指标")
    pdf.set_creation_date(report.published_at)
    pdf.add_font("cjk", "", str(regular))
    pdf.add_font("cjk", "B", str(bold))
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_margins(12, 12, 12)
    pdf.add_page()
    pdf.set_font("cjk", "B", 17)
    pdf.cell(0, 9, f"{report.area_name_zh} {report.year} 年度治理效能指标", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", "", 10)
    pdf.set_text_color(100)
    pdf.cell(0, 6, f"{report.area_name_en}: governance KPIs {report.year}", new_x="LMARGIN", new_y="NEXT")
    counts = _status_counts(report)
    pdf.multi_cell(
        0,
        5,
        f"地区 Area: {report.area_name_zh} ({report.area_code}, {report.area_level})   "
        f"发布 Publication: {report.publication_id}   发布时间 Published at: {_published_at(report)}   "
        f"源文件 Source files: {report.files}\n"
        f"达标情况 Status: {STATUS_ZH['green']} {counts['green']} · {STATUS_ZH['amber']} {counts['amber']} · "
        f"{STATUS_ZH['red']} {counts['red']}\n"
        "数据来自已发布的数据仓库（marts），每个数字均可追溯：见脚注。样例数据为合成数据。"
        " From the published warehouse; every figure is traceable (footnotes). The sample data are synthetic.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0)
    fills = {s: tuple(int(c[i : i + 2], 16) for i in (0, 2, 4)) for s, c in STATUS_FILL.items()}
    widths = (64, 34, 24, 22, 20, 30, 16, 63)
    for d in departments:
        pdf.ln(3)
        pdf.set_font("cjk", "B", 13)
        pdf.cell(0, 8, f"{d['name_zh']}  {d['name_en']}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", "", 8.5)
        heading = FontFace(emphasis="BOLD", fill_color=(242, 245, 249))
        with pdf.table(
            col_widths=widths,
            text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "CENTER", "RIGHT", "CENTER", "CENTER"),
            headings_style=heading,
            line_height=4.6,
            borders_layout="HORIZONTAL_LINES",
            v_align="MIDDLE",
        ) as table:
            row = table.row()
            for zh, en in WEB_COLUMNS:
                row.cell(f"{zh}\n{en}")
            for k in d["rows"]:
                row = table.row()
                row.cell(f"{k['name_zh']}\n{k['name_en']}")
                row.cell(f"{k['value']} {k['unit_zh']} [{k['footnote']}]")
                row.cell(k["target"])
                row.cell(k["attainment"])
                status = k["status"]
                row.cell(STATUS_ZH[status] if status else "", style=FontFace(fill_color=fills[status]) if status else None)
                row.cell(k["change_on_last_year"] + (f"\n{k['change_on_last_year_pct']} %" if k["change_on_last_year_pct"] else ""))
                row.cell(k["rank"])
                if k["chart"]:
                    row.cell(img=io.BytesIO(k["chart"]), img_fill_width=True)
                else:
                    row.cell("")
        pdf.ln(1)
        pdf.set_font("cjk", "", 7)
        pdf.set_text_color(90)
        for k in d["rows"]:
            checks = k["checks"]
            pdf.multi_cell(
                0,
                3.6,
                f"[{k['footnote']}] {k['name_zh']} ({k['kpi_code']}, 口径 v{k['kpi_version']}): 发布 publication "
                f"{report.publication_id}; 源文件 {len(d['files'])} files of {report.year}"
                + (f"; 校验 checks {checks['checks_passed']}/{checks['checks']} passed" if checks else "")
                + f"; govkpi lineage {k['kpi_code']}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
        pdf.set_text_color(0)
    data = bytes(pdf.output())
    missing = sorted({g for font in pdf.fonts.values() for g in getattr(font, "missing_glyphs", [])})
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    if missing:
        raise ReportError(
            f"the PDF would draw {len(missing)} characters as boxes ({''.join(chr(g) for g in missing[:20])}): "
            "add them to govkpi.report.PDF_TEXT"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    log.info("PDF report of %s %s written to %s", report.area_code, report.year, path)
    return path


# Chinese written only by the PDF writer (the rest is in the HTML page's text).
PDF_TEXT = "地区发布时间源文件达标情况口径校验通过年度治理效能指标数据来自已发布的数据仓库，每个数字均可追溯：见脚注。样例数据为合成数据。"

WRITERS = {"xlsx": write_xlsx, "html": write_html, "pdf": write_pdf}
