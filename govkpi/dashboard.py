"""`govkpi serve`: a read-only dashboard over the published warehouse, for people (ADR 0031).

The page shows, for a year and an area the reader picks, each department's
KPI cards (value, status colour against target, change on last year, rank,
a monthly trend), a ranking of the area's townships or villages on one KPI,
and, for every figure, a link to its lineage: the publication, the files
and the checks behind it.

What it may read is what its database role may read, nothing else:

- it connects as a login in `govkpi_bi` (default `govkpi_dashboard`, which
  `govkpi serve` creates and grants the county unless it already has a
  grant), so row-level security gives it the areas granted to it, as any
  BI tool (govkpi.access);
- that login is also in `govkpi_publication_log`, which reads the
  publication log (audit.publication, the files' manifest rows and the
  checks' outcomes), never raw, staging or quarantined rows;
- each page is read in one read-only repeatable-read transaction, so all
  its figures and the publication it names come from one publication even
  while a new one is swapped in.

It binds 127.0.0.1 by default, and its pages load nothing from elsewhere:
the font and charts are inside each page, and a Content-Security-Policy
keeps the browser from fetching anything.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from govkpi import access, schemas
from govkpi.errors import GovkpiError
from govkpi.kpi_registry import Registry
from govkpi.report import (
    STATUS_ZH,
    ReportError,
    document_rows,
    format_number,
    gather,
    page_font_faces,
    template_environment,
)
from govkpi.warehouse import BI_ROLE, ensure_roles

log = logging.getLogger(__name__)

DEFAULT_ROLE = "govkpi_dashboard"
# Reads the publication log: which publication, its files and its checks' outcomes.
PUBLICATION_LOG_ROLE = "govkpi_publication_log"
PUBLICATION_LOG_COLUMNS = {
    "publication": None,  # every column: ids, times, versions, file and batch ids, content hashes
    "load_manifest": (
        "file_id", "batch_id", "department", "extract_name", "period", "file_name", "sha256",
        "received_at", "loaded_at", "rows_read", "rows_loaded", "rows_rejected", "status", "superseded_by_file_id",
    ),
    "validation_run": None,
    "validation_result": (
        "validation_run_id", "suite_name", "relation", "check_name", "expectation_type", "success",
    ),
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:; "
    "script-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
LEVEL_ORDER = {"county": 0, "township": 1, "village": 2}


class DashboardError(GovkpiError):
    """The dashboard cannot start: no role, no publication, or a reader that cannot connect."""


def grant_publication_log(conn: psycopg.Connection) -> None:
    """Create `govkpi_publication_log` if missing and let it read the publication log (owner connection)."""
    if conn.execute("select 1 from pg_roles where rolname = %s", (PUBLICATION_LOG_ROLE,)).fetchone() is None:
        try:
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(PUBLICATION_LOG_ROLE)))
        except psycopg.errors.DuplicateObject:
            pass
    role = sql.Identifier(PUBLICATION_LOG_ROLE)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schemas.AUDIT), role))
    present = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s", (schemas.AUDIT,)
        ).fetchall()
    }
    for table, columns in PUBLICATION_LOG_COLUMNS.items():
        if table not in present:
            continue
        target = sql.Identifier(schemas.AUDIT, table)
        if columns is None:
            conn.execute(sql.SQL("grant select on {} to {}").format(target, role))
        else:
            conn.execute(
                sql.SQL("grant select ({}) on {} to {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)), target, role)
            )


def prepare_reader(owner_url: str, role: str) -> tuple[str, str | None]:
    """Make `role` a dashboard reader: a login in govkpi_bi and govkpi_publication_log.

    Creates the login if missing (no password: the server's pg_hba decides
    how it may connect). A role without any area grant is granted the
    county, and the returned note says so. Returns the reader's URL and the note.
    """
    note = None
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ensure_roles(conn)
        grant_publication_log(conn)
        if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
            note = f"created login role {role}"
        for group in (BI_ROLE, PUBLICATION_LOG_ROLE):
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(role)))
        if not [g for g in access.grants(conn) if g.role_name == role]:
            county = conn.execute(
                f"select area_code from {schemas.PUBLISHED}.dim_area where area_level = 'county' order by area_code limit 1"
            ).fetchone()
            if county is None:
                raise DashboardError("nothing is published yet: run `govkpi run` first")
            access.grant(conn, role, county[0])
            note = (note + "; " if note else "") + f"granted {role} the county ({county[0]}): revoke with `govkpi access revoke {role}`"
    params = conninfo_to_dict(owner_url)
    params["user"] = role
    params.pop("password", None)
    return make_conninfo(**params), note


@dataclass
class Page:
    status: int
    body: str
    content_type: str = "text/html; charset=utf-8"


class Dashboard:
    """The pages, read as the reader role."""

    def __init__(self, reader_url: str, registry: Registry):
        self.reader_url = reader_url
        self.registry = registry
        self.environment = template_environment()
        self.requests = 0
        self._lock = threading.Lock()

    def check(self) -> dict[str, Any]:
        """Connect as the reader once: its role, the publication it sees, how many areas it may read."""
        try:
            return self._check()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DashboardError(
                f"the dashboard's login may not read the publication log or marts ({exc.diag.message_primary}): "
                f"grant it {BI_ROLE} and {PUBLICATION_LOG_ROLE}, or let `govkpi serve --role ROLE` prepare it"
            ) from None
        except psycopg.OperationalError as exc:
            raise DashboardError(f"the dashboard's login cannot connect: {exc}") from None

    def _check(self) -> dict[str, Any]:
        with self._read() as cur:
            role = cur.execute("select current_user as role").fetchone()["role"]
            in_bi = cur.execute("select pg_has_role(current_user, %s, 'member') as ok", (BI_ROLE,)).fetchone()["ok"]
            if not in_bi:
                raise DashboardError(f"role {role} is not a member of {BI_ROLE}: the dashboard reads as a BI login only")
            publication = self._publication(cur)
            areas = self._areas(cur)
        if not areas:
            raise DashboardError(
                f"role {role} may read no area: grant it one with `govkpi access grant {role} AREA`"
            )
        return {"role": role, "publication": publication, "areas": len(areas)}

    # -- reading ---------------------------------------------------------

    def _read(self):
        return _ReadOnly(self.reader_url)

    @staticmethod
    def _publication(cur) -> dict[str, Any]:
        row = cur.execute(
            f"select publication_id, published_at, cardinality(file_ids) as files from {schemas.AUDIT}.publication "
            "order by publication_id desc limit 1"
        ).fetchone()
        if row is None:
            raise DashboardError("nothing is published yet: run `govkpi run` first")
        return row

    @staticmethod
    def _areas(cur) -> list[dict[str, Any]]:
        rows = cur.execute(
            f"select area_code, area_level, name_zh, name_en, parent_area_code from {schemas.PUBLISHED}.dim_area"
        ).fetchall()
        return sorted(rows, key=lambda a: (LEVEL_ORDER.get(a["area_level"], 9), a["area_code"]))

    @staticmethod
    def _years(cur) -> list[int]:
        return [
            int(r["year"])
            for r in cur.execute(
                f"select distinct extract(year from period_start_date)::int as year from {schemas.PUBLISHED}.fct_kpi_value "
                "where period_grain = 'year' order by 1 desc"
            ).fetchall()
        ]

    @staticmethod
    def _ranking(cur, kpi_code: str, year: int, area_code: str) -> list[dict[str, Any]]:
        return cur.execute(
            f"""
            select a.area_code, a.name_zh, a.name_en, c.value, c.rank_in_parent, c.ranked_areas, c.rank_change
            from {schemas.PUBLISHED}.fct_kpi_comparison as c
            join {schemas.PUBLISHED}.dim_area as a on a.area_code = c.area_code
            where a.parent_area_code = %(area)s and c.kpi_code = %(kpi)s and c.period_grain = 'year'
                and c.period_start_date = make_date(%(year)s, 1, 1) and c.breakdown_dimension is null
            order by c.rank_in_parent nulls last, a.area_code
            """,
            {"area": area_code, "kpi": kpi_code, "year": year},
        ).fetchall()

    # -- pages -----------------------------------------------------------

    def handle(self, path: str, query: dict[str, str]) -> Page:
        with self._lock:
            self.requests += 1
        if path == "/healthz":
            return Page(200, "ok\n", "text/plain; charset=utf-8")
        if path not in ("/", "/lineage"):
            return Page(404, self._message("找不到页面 Not found", f"No page {path}."))
        try:
            with self._read() as cur:
                return self._overview(cur, query) if path == "/" else self._lineage(cur, query)
        except (ReportError, DashboardError) as exc:
            return Page(404, self._message("无数据 No data", str(exc)))

    def _context(self, cur, query: dict[str, str]) -> dict[str, Any]:
        publication = self._publication(cur)
        areas = self._areas(cur)
        if not areas:
            raise DashboardError("this login may read no area: ask the data office for a grant (`govkpi access grant`)")
        years = self._years(cur)
        if not years:
            raise DashboardError(f"publication {publication['publication_id']} has no yearly values this login may read")
        known = {a["area_code"]: a for a in areas}
        area_code = query.get("area") if query.get("area") in known else areas[0]["area_code"]
        try:
            year = int(query.get("year") or years[0])
        except ValueError:
            year = years[0]
        if year not in years:
            year = years[0]
        return {"publication": publication, "areas": areas, "years": years, "area": known[area_code], "year": year}

    def _overview(self, cur, query: dict[str, str]) -> Page:
        context = self._context(cur, query)
        report = gather(cur.connection, year=context["year"], area=context["area"]["area_code"], registry=self.registry)
        departments = document_rows(report)
        kpis = [k for d in departments for k in d["rows"]]
        children = [a for a in context["areas"] if a["parent_area_code"] == context["area"]["area_code"]]
        rank_kpi = query.get("rank") if query.get("rank") in {k["kpi_code"] for k in kpis} else "hrss_trainees"
        if rank_kpi not in {k["kpi_code"] for k in kpis}:
            rank_kpi = kpis[0]["kpi_code"]
        ranking = self._ranking(cur, rank_kpi, context["year"], context["area"]["area_code"]) if children else []
        rank_unit = next(k["unit"] for k in kpis if k["kpi_code"] == rank_kpi)
        for r in ranking:
            r["value_text"] = format_number(r["value"], rank_unit)
        base = {"year": context["year"], "area": context["area"]["area_code"]}
        for k in kpis:
            k["lineage_href"] = "/lineage?" + urlencode({**base, "kpi": k["kpi_code"]})
        return self._render(
            "dashboard.html.j2",
            **context,
            report=report,
            departments=departments,
            kpis=kpis,
            children=children,
            ranking=ranking,
            rank_kpi=rank_kpi,
            counts=status_counts(kpis),
            rank_name=next(k["name_zh"] for k in kpis if k["kpi_code"] == rank_kpi),
            child_level={"county": "乡镇 townships", "township": "村（社区） villages"}.get(context["area"]["area_level"], ""),
            status_zh=STATUS_ZH,
            published_at=_utc(context["publication"]["published_at"]),
        )

    def _lineage(self, cur, query: dict[str, str]) -> Page:
        context = self._context(cur, query)
        kpi_code = query.get("kpi") or ""
        report = gather(cur.connection, year=context["year"], area=context["area"]["area_code"], registry=self.registry)
        rows = {k["kpi_code"]: k for d in document_rows(report, chart_format=None) for k in d["rows"]}
        if kpi_code not in rows:
            return Page(404, self._message("找不到指标 No such KPI", f"No KPI {kpi_code!r}; the KPIs are: {', '.join(rows)}."))
        kpi = rows[kpi_code]
        definition = cur.execute(
            f"select definition, direction, kpi_version, version_valid_from from {schemas.PUBLISHED}.dim_kpi where kpi_code = %s",
            (kpi_code,),
        ).fetchone()
        models = report.checks.get(kpi_code, {}).get("models", [])
        checks = [
            r
            for r in cur.execute(
                f"select suite_name, relation, check_name, expectation_type, success from {schemas.AUDIT}.validation_result "
                "where validation_run_id = %s order by suite_name, relation, check_name",
                (report.validation_run_id,),
            ).fetchall()
            if (r["relation"] or "").rsplit(".", 1)[-1] in models
        ]
        return self._render(
            "lineage.html.j2",
            **context,
            report=report,
            kpi=kpi,
            definition=definition,
            models=models,
            checks=checks,
            files=report.source_files.get(kpi["department"], []),
            back_href="/?" + urlencode({"year": context["year"], "area": context["area"]["area_code"]}),
            status_zh=STATUS_ZH,
            published_at=_utc(context["publication"]["published_at"]),
        )

    def _render(self, template: str, **context: Any) -> Page:
        page = self.environment.get_template(template)
        draft = page.render(**context, font_regular="", font_bold="")
        return Page(200, page.render(**context, **page_font_faces(draft)))

    @staticmethod
    def _message(title: str, text: str) -> str:
        return (
            f"<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p><p><a href='/'>govkpi</a></p></body></html>"
        )


class _ReadOnly:
    """A connection in one read-only repeatable-read transaction: every figure of a page from one snapshot."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        self.conn = psycopg.connect(self.url, connect_timeout=10)
        self.conn.execute("set transaction isolation level repeatable read, read only")
        return self.conn.cursor(row_factory=dict_row)

    def __exit__(self, *exc):
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def make_server(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """An HTTP server of the dashboard's pages (GET and HEAD only); port 0 takes a free port."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "govkpi-dashboard"

        def _respond(self, with_body: bool) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            try:
                page = dashboard.handle(parts.path, query)
            except Exception:  # noqa: BLE001 - a failed page is a 500 and a log line, never a dead server
                log.exception("dashboard page %s failed", self.path)
                page = Page(500, Dashboard._message("出错了 Error", "The page failed; see the server's log."))
            body = page.body.encode("utf-8")
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self._respond(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._respond(False)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def status_counts(kpis: list[dict[str, Any]]) -> dict[str, int]:
    statuses = [k.get("status") for k in kpis]
    return {s: statuses.count(s) for s in STATUS_ZH}

