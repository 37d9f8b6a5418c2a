"""The governance report a township head or the county reads: each department's KPIs for a year, from the published warehouse.

`govkpi report --year 2023 [--area AREA] --format xlsx --out FILE` reads
only what is published: `marts` (values, targets and status, comparisons,
the catalogue, the areas) and the publication log (which publication, from
which files). It writes the workbook a clerk forwards: an about sheet, then
one sheet per department, Chinese labels first, the figures with number
formats by unit, the status coloured, frozen headers, and for every figure
its lineage (the publication and the command that traces it).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from govkpi import schemas
from govkpi.errors import GovkpiError

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


def gather(conn: psycopg.Connection, *, year: int, area: str | None = None) -> Report:
    """The year's published KPI totals of `area` (default: the county) with targets, status, comparisons and lineage."""
    with conn.cursor(row_factory=dict_row) as cur:
        publication = cur.execute(
            f"select publication_id, published_at, cardinality(file_ids) as files from {schemas.AUDIT}.publication "
            "order by publication_id desc limit 1"
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
    )


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
