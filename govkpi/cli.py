"""`govkpi`: run the pipeline, read the published KPIs, manage the embedded warehouse.

    govkpi run [--extracts DIR]          ingest + build + validate + publish, through Airflow
    govkpi kpi [--year Y] [--kpi CODE] [--json]
    govkpi warehouse start|stop|url
    govkpi audit publications | publication ID|latest [--json] | verify ID|latest
    govkpi lineage KPI_CODE [--period YYYY-MM] [--json]
    govkpi access grant ROLE AREA | revoke ROLE [AREA] | list
    govkpi report --year Y [--area AREA] [--format xlsx|html|pdf] [--out FILE]
    govkpi serve [--host 127.0.0.1] [--port 8765] [--role ROLE | --reader-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import json
import logging
import secrets
import sys
import time
from pathlib import Path

from govkpi.errors import GovkpiError
from govkpi.jsonvalues import json_value, jsonable
from govkpi.settings import Settings, load_settings, redact_url

log = logging.getLogger("govkpi")

KPI_COLUMNS = (
    "kpi_code",
    "period_grain",
    "period_start_date",
    "area_level",
    "area_code",
    "breakdown_dimension",
    "breakdown_member",
    "value",
    "numerator",
    "denominator",
)


def _moment(text: str) -> dt.datetime:
    """An ISO 8601 date or time; without a zone, UTC."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time, e.g. 2024-03-01 or 2024-03-01T09:30+08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _say(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------
# govkpi run
# --------------------------------------------------------------------------


def demo_key(settings: Settings) -> str:
    """A local pseudonymisation key for the demo, created once in the state folder."""
    path = settings.state_dir / "pseudonym.key"
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def cmd_run(args: argparse.Namespace) -> int:
    from govkpi import orchestrate
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    extracts = (args.extracts or settings.landing_dir).resolve()
    if not extracts.is_dir():
        raise GovkpiError(f"extracts folder {extracts} does not exist; pass --extracts DIR with <department>/<period>/ folders")
    started = time.monotonic()
    _say(f"govkpi run: extracts from {extracts}")
    url = resolve_url(settings)
    _say(f"  warehouse: {redact_url(url) if settings.warehouse_url else 'embedded PostgreSQL, ' + url}")
    extra = {"GOVKPI_WAREHOUSE_URL": url, "GOVKPI_LANDING_DIR": str(extracts), "GOVKPI_STATE_DIR": str(settings.state_dir)}
    if not settings.has_pseudonym_key:
        extra["GOVKPI_PSEUDONYM_KEY"] = demo_key(settings)
        _say(
            f"  pseudonymisation key: GOVKPI_PSEUDONYM_KEY is not set, using the demo key in "
            f"{settings.state_dir / 'pseudonym.key'} (set your own secret key in production)"
        )
    # Before Airflow starts: a key other than the warehouse's is refused now (docs/adr/0030).
    import psycopg

    from ingestion.loader import refuse_another_pseudonym_key
    from ingestion.pii import Pseudonymiser

    key = settings.pseudonym_key() if settings.has_pseudonym_key else demo_key(settings).encode("utf-8")
    with psycopg.connect(url) as conn:
        refuse_another_pseudonym_key(conn, Pseudonymiser(key))
    env = orchestrate.airflow_env(settings, extra)
    _say("  preparing Airflow (metadata on SQLite in the state folder)")
    orchestrate.ensure_metadata_db(settings, env)

    departments = [d for d in orchestrate.INGEST_DAGS if (extracts / d).is_dir()]
    if not departments:
        raise GovkpiError(f"no department folders under {extracts} (expected one of: {', '.join(orchestrate.INGEST_DAGS)})")
    for code in departments:
        _warn_incomplete(extracts, code)
    # One run per department loading every complete delivery at once
    # (scheduled runs and backfills load one month per run instead: scope
    # "interval"), then the warehouse; all in one Airflow process.
    requests = [orchestrate.DagRunRequest(orchestrate.INGEST_DAGS[code], conf={"scope": "all"}) for code in departments]
    requests.append(orchestrate.DagRunRequest(orchestrate.WAREHOUSE_DAG))
    # What each run is, said as it starts; the department whose loads follow it, if any.
    steps = [(f"every complete delivery under {extracts / code}", code) for code in departments]
    steps.append(("build audit, validate, publish", None))
    stages: list[tuple[str, float, orchestrate.DagRunResult | None]] = [("prepare Airflow", time.monotonic() - started, None)]
    with contextlib.closing(orchestrate.run_dags(settings, env, requests)) as runs:
        for request, (what, department) in zip(requests, steps):
            _say(f"  running DAG {request.dag_id} ({what}) ...")
            stage_started, since = time.monotonic(), dt.datetime.now(dt.timezone.utc)
            result = next(runs)
            stages.append((result.dag_id, time.monotonic() - stage_started, result))
            ok = _report(result)
            if department:
                _print_loads(url, department, since)
            if not ok:
                return 1
    _print_summary(url)
    if args.verbose:
        _print_stages(settings, stages, time.monotonic() - started)
    _say(f"\nDone in {time.monotonic() - started:.0f} s. Published schema: marts. Warehouse URL: {url}")
    _say("Query it: .venv/bin/govkpi kpi --year 2023   |   psql \"$(.venv/bin/govkpi warehouse url)\"")
    _say(
        f"Audit it: .venv/bin/govkpi audit publication latest   |   docs in {settings.state_dir / 'publications'}   |   "
        f"OpenLineage events in {settings.state_dir / 'openlineage'}"
    )
    return 0


def _print_stages(settings: Settings, stages: list, total: float) -> None:
    """Seconds by stage: each DAG run, and within it each task (from Airflow's metadata) and Airflow's own share."""
    from govkpi import orchestrate

    _say("\nSeconds by stage:")
    for name, seconds, result in stages:
        detail = ""
        if result is not None:
            tasks = orchestrate.task_seconds(settings, result.dag_id, result.run_id)
            parts = [f"{task} {s:.1f}" for task, s in tasks.items()]
            parts.append(f"Airflow {max(seconds - sum(tasks.values()), 0):.1f}")
            detail = f"  ({', '.join(parts)})"
        _say(f"  {name:<28} {seconds:6.1f}{detail}")
    _say(f"  {'total':<28} {total:6.1f}")


def _warn_incomplete(extracts: Path, department: str) -> None:
    from govkpi.delivery import incomplete_folders, incomplete_message

    for folder in incomplete_folders(extracts, department):
        _say(f"    {incomplete_message(folder)}")


def _print_loads(url: str, department: str, since: dt.datetime) -> None:
    """What the ingest run did: files loaded or refused, rows, and the first quarantined problems."""
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('audit.load_batch') is null").fetchone()[0]:
            return
        files = conn.execute(
            "select m.file_name, m.period, m.status, m.rows_read, m.rows_loaded, m.rows_rejected "
            "from audit.load_batch b join audit.load_manifest m using (batch_id) "
            "where b.department = %s and b.started_at >= %s order by m.file_id",
            (department, since),
        ).fetchall()
        problems = conn.execute(
            "select q.file_name, q.row_number, q.column_name, q.reason from audit.quarantine q "
            "join audit.load_batch b using (batch_id) where b.department = %s and b.started_at >= %s "
            "order by q.quarantine_id limit 10",
            (department, since),
        ).fetchall()
    if not files:
        _say("    no new files: everything in the landing folder was loaded before")
    for name, period, status, read, loaded, rejected in files:
        _say(f"    {name} [{period}] {status}: {read} rows read, {loaded} loaded, {rejected} rejected")
    for name, row, column, reason in problems:
        where = ", ".join(p for p in (f"row {row}" if row else "", f"column {column!r}" if column else "") if p)
        _say(f"      quarantined: {name}, {where}: {reason}")
    if problems:
        _say("      (all rejected rows: select * from audit.quarantine)")


def _report(result) -> bool:
    if result.ok:
        _say(f"    {result.dag_id}: success ({result.run_id})")
        return True
    _say(f"    {result.dag_id}: {result.state.upper()}; failed tasks: {', '.join(result.failed_tasks) or '-'}")
    for line in result.errors:
        _say(f"      {line}")
    _say(f"    full log: {result.log_file}")
    if result.failed_tasks and all(t.split(".")[-1] == "document" for t in result.failed_tasks):
        _say("    The new publication is live; only its documentation was not written (see above).")
    else:
        _say("    The previously published marts, if any, are unchanged.")
    return False


def _print_summary(url: str) -> None:
    """The latest year's totals of every KPI, by department: the township's, or the county's when there are several townships."""
    rows = [r for r in fetch_kpis(url, year=None, kpi=None, yearly_totals_only=True) if r["breakdown_member"] is None]
    if not rows:
        _say("\nNo published KPI values.")
        return
    latest = max(r["period_start_date"].year for r in rows)
    rows = [r for r in rows if r["period_start_date"].year == latest]
    townships = {r["area_code"] for r in rows if r["area_level"] == "township"}
    if len(townships) > 1:
        rows = [r for r in rows if r["area_level"] == "county"]
        whole = f"whole county ({len(townships)} townships; each township: govkpi kpi --year {latest})"
    else:
        rows = [r for r in rows if r["area_level"] == "township"]
        whole = "whole township"
    _say(f"\nPublished KPIs, {whole}, {latest} (breakdowns and other periods: govkpi kpi --year {latest}):")
    name_width = max(len(r["name_en"]) for r in rows)
    department = None
    for r in sorted(rows, key=lambda r: (r["department"], r["kpi_code"])):
        if r["department"] != department:
            department = r["department"]
            _say(f"  [{department}]")
        value = _fmt(r["value"])
        ratio = f"  ({_fmt(r['numerator'])} / {_fmt(r['denominator'])})" if r["denominator"] is not None else ""
        _say(f"    {r['name_en']:<{name_width}}  {value:>10} {r['unit']}{ratio}")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------
# govkpi kpi
# --------------------------------------------------------------------------


def fetch_kpis(url: str, *, year: int | None, kpi: str | None, yearly_totals_only: bool = False) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    where = ["true"]
    params: list[object] = []
    if year is not None:
        where.append("v.period_start_date >= make_date(%s, 1, 1) and v.period_start_date < make_date(%s + 1, 1, 1)")
        params += [year, year]
    if kpi is not None:
        where.append("v.kpi_code = %s")
        params.append(kpi)
    if yearly_totals_only:
        where.append("v.period_grain = 'year' and v.area_level in ('township', 'county')")
    query = f"""
        select {', '.join('v.' + c for c in KPI_COLUMNS)}, k.name_en, k.name_zh, k.unit, k.department
        from marts.fct_kpi_value v
        join marts.dim_kpi k on k.kpi_code = v.kpi_code
        where {' and '.join(where)}
        order by v.kpi_code, v.period_start_date,
                 case v.period_grain when 'year' then 0 when 'quarter' then 1 else 2 end,
                 case v.area_level when 'county' then 0 when 'township' then 1 else 2 end, v.area_code,
                 v.breakdown_dimension nulls first, v.breakdown_member nulls first
    """
    with psycopg.connect(url, row_factory=dict_row) as conn:
        exists = conn.execute("select to_regclass('marts.fct_kpi_value') is not null as ok").fetchone()
        if not exists or not exists["ok"]:
            raise GovkpiError("nothing is published yet: marts.fct_kpi_value does not exist. Run `govkpi run` first.")
        return conn.execute(query, params).fetchall()


def cmd_kpi(args: argparse.Namespace) -> int:
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    url = resolve_url(settings)
    if args.action == "diff":
        return _kpi_diff(url, args)
    if args.publications:
        raise SystemExit("govkpi kpi: publication numbers go with `govkpi kpi diff A B`")
    if args.as_of is not None:
        import psycopg

        from govkpi.ledger import values_as_of

        with psycopg.connect(url) as conn:
            as_of = values_as_of(conn, args.as_of, year=args.year, kpi=args.kpi)
        rows = as_of.rows
        if not args.json:
            _say(f"As public at {args.as_of.isoformat()}: publication {as_of.publication_id} "
                 f"(published {as_of.published_at.isoformat(timespec='seconds')})")
    else:
        rows = fetch_kpis(url, year=args.year, kpi=args.kpi)
    if args.json:
        _say(json.dumps([{c: json_value(r[c]) for c in KPI_COLUMNS} for r in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        _say("No published values match.")
        return 0
    header = f"{'kpi_code':<28} {'grain':<7} {'period':<10} {'area':<10} {'breakdown':<22} {'value':>10} {'num':>8} {'den':>8}"
    _say(header)
    _say("-" * len(header))
    for r in rows:
        breakdown = f"{r['breakdown_dimension']}={r['breakdown_member']}" if r["breakdown_member"] else ""
        _say(
            f"{r['kpi_code']:<28} {r['period_grain']:<7} {r['period_start_date'].isoformat():<10} {r['area_code']:<10} "
            f"{breakdown:<22} {_fmt(r['value']):>10} {_fmt(r['numerator']):>8} {_fmt(r['denominator']):>8}"
        )
    return 0


def _kpi_diff(url: str, args: argparse.Namespace) -> int:
    import psycopg

    from govkpi.ledger import diff

    if len(args.publications) != 2:
        raise SystemExit("govkpi kpi diff takes two publication ids, e.g. `govkpi kpi diff 3 5` (govkpi audit publications lists them)")
    a, b = args.publications
    with psycopg.connect(url) as conn:
        rows = diff(conn, a, b)
    if args.json:
        _say(json.dumps([{k: json_value(v) for k, v in r.items()} for r in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        _say(f"No KPI value differs between publications {a} and {b}.")
        return 0
    _say(f"{len(rows)} KPI values differ between publications {a} and {b}:")
    for r in rows:
        breakdown = f" {r['breakdown_dimension']}={r['breakdown_member']}" if r["breakdown_member"] else ""
        _say(
            f"  {r['kpi_code']} {r['period_grain']} {r['period_start_date'].isoformat()} {r['area_code']}{breakdown}: "
            f"{_fmt(r['value_a'])} -> {_fmt(r['value_b'])}"
        )
        for name in r["files_added"]:
            _say(f"      + {name}")
        for name in r["files_withdrawn"]:
            _say(f"      - {name}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import psycopg

    from govkpi.kpi_registry import load_registry
    from govkpi.report import WRITERS, gather
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    registry = load_registry(settings.dbt_project_dir)
    with psycopg.connect(resolve_url(settings)) as conn:
        report = gather(conn, year=args.year, area=args.area, registry=registry)
    out = args.out or Path(f"govkpi-report-{report.area_code}-{report.year}.{args.format}")
    WRITERS[args.format](report, out)
    statuses = [r["status"] for r in report.rows if r["status"]]
    _say(
        f"Wrote {out}: {report.area_name_zh} ({report.area_code}) {report.year}, {len(report.rows)} KPIs, "
        f"publication {report.publication_id}"
        + (f"; {statuses.count('green')} green, {statuses.count('amber')} amber, {statuses.count('red')} red against target"
           if statuses else "; no targets set")
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from govkpi import dashboard
    from govkpi.kpi_registry import load_registry
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    registry = load_registry(settings.dbt_project_dir)
    try:
        if args.reader_url:
            reader_url = args.reader_url
        else:
            reader_url, note = dashboard.prepare_reader(resolve_url(settings), args.role)
            if note:
                _say(f"Dashboard reader: {note}.")
        board = dashboard.Dashboard(reader_url, registry)
        seen = board.check()
    except dashboard.DashboardError as exc:
        print(f"govkpi serve: {exc}", file=sys.stderr, flush=True)
        return 2
    server = dashboard.make_server(board, args.host, args.port)
    host, port = server.server_address[:2]
    _say(
        f"Serving the dashboard on http://{host}:{port}/ as role {seen['role']} "
        f"({seen['areas']} areas, publication {seen['publication']['publication_id']}). Ctrl-C stops it."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# --------------------------------------------------------------------------
# govkpi warehouse
# --------------------------------------------------------------------------


def cmd_warehouse(args: argparse.Namespace) -> int:
    from govkpi import warehouse

    settings: Settings = args.settings
    if settings.warehouse_url:
        if args.action == "url":
            _say(settings.warehouse_url)
            return 0
        raise GovkpiError(
            f"GOVKPI_WAREHOUSE_URL is set ({redact_url(settings.warehouse_url)}): that server is managed elsewhere; "
            "`govkpi warehouse start|stop` manage only the embedded one"
        )
    if args.action == "start":
        url = warehouse.start_embedded(settings)
        _say(url)
    elif args.action == "stop":
        was = warehouse.stop_embedded(settings)
        _say("embedded warehouse stopped" if was else "embedded warehouse was not running")
    else:
        if not warehouse.embedded_running(settings):
            raise GovkpiError("the embedded warehouse is not running; start it with `govkpi warehouse start`")
        _say(warehouse.start_embedded(settings))
    return 0


# --------------------------------------------------------------------------
# govkpi lineage
# --------------------------------------------------------------------------


def cmd_lineage(args: argparse.Namespace) -> int:
    import psycopg

    from govkpi import lineage
    from govkpi.kpi_registry import load_registry
    from govkpi.transform import ensure_manifest
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    manifest = lineage.load_manifest(ensure_manifest(settings))
    registry = load_registry(settings.dbt_project_dir)
    with psycopg.connect(resolve_url(settings)) as conn:
        trace = lineage.trace(conn, manifest, registry, args.kpi_code, args.period)
    if args.json:
        _say(json.dumps(jsonable(trace), ensure_ascii=False, indent=2))
        return 0
    kpi, pub = trace["kpi"], trace["publication"]
    _say(f"{kpi['kpi_code']} ({kpi['name_zh']} / {kpi['name_en']}, {kpi['unit']})"
         + (f", {trace['period']}" if trace["period"] else ", by year"))
    _say(f"  {kpi['definition']}")
    _say("values (township):")
    for v in trace["values"]:
        breakdown = f" {v['breakdown_dimension']}={v['breakdown_member']}" if v["breakdown_member"] else ""
        ratio = f"  ({_fmt(v['numerator'])} / {_fmt(v['denominator'])})" if kpi["unit"] == "pct" else ""
        _say(f"  {v['period_grain']} {v['period_start_date']}{breakdown}: {_fmt(v['value'])}{ratio}")
    _say(
        f"published by publication {pub['publication_id']} at {pub['published_at'].astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC "
        f"(Airflow {pub['airflow_dag_id']} {pub['airflow_run_id']}, dbt invocation {pub['dbt_invocation_id']}, "
        f"validation run {pub['validation_run_id']})"
    )
    _say("models, from the raw tables to the KPI:")
    for m in trace["models"]:
        _say(f"  {m['resource_type']:<7} {m['relation']}")
    _say("source files:")
    for f in trace["files"]:
        rows = f.get("rows_in_period", f.get("rows"))
        what = f"{rows} events in the period" if "rows_in_period" in f else f"{rows} rows read by {f['model']}"
        _say(
            f"  {f['file_id']:>5} {f['department']}/{f['period']}/{f['file_name']}  sha256 {f['sha256']}\n"
            f"        received {f['received_at']:%Y-%m-%d %H:%M}, {f['rows_loaded']} loaded, {f['rows_rejected']} rejected; {what}"
        )
    passed = sum(1 for c in trace["checks"] if c["success"])
    _say(f"checks on the way: {passed} of {len(trace['checks'])} passed")
    for c in trace["checks"]:
        _say(f"  {'pass' if c['success'] else 'FAIL'}  [{c['suite_name']}] {c['relation']}: {c['check_name']}")
    return 0


# --------------------------------------------------------------------------
# govkpi audit
# --------------------------------------------------------------------------


def cmd_access(args: argparse.Namespace) -> int:
    import psycopg

    from govkpi import access
    from govkpi.migrations import migrate
    from govkpi.warehouse import resolve_url

    url = resolve_url(args.settings)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        try:
            if args.action == "grant":
                granted = access.grant(conn, args.role, args.area)
                _say(f"{args.role} (and its members) may now read the published rows of {args.area} ({granted.area_level})")
            elif args.action == "revoke":
                removed = access.revoke(conn, args.role, args.area)
                _say(f"removed {removed} grant(s) of {args.role}")
            else:
                rows = access.grants(conn)
                if not rows:
                    _say("No BI role may read township rows yet: `govkpi access grant ROLE AREA`.")
                for g in rows:
                    _say(f"{g.role_name:<24} {g.area_code:<16} {g.area_level or '?':<9} granted by {g.granted_by}")
        except access.AccessError as exc:
            print(f"govkpi access: {exc}", file=sys.stderr, flush=True)
            return 2
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import psycopg

    from govkpi import audit
    from govkpi.warehouse import resolve_url

    settings: Settings = args.settings
    url = resolve_url(settings)
    with psycopg.connect(url) as conn:
        if args.action == "publications":
            rows = audit.publications(conn)
            if args.json:
                _say(json.dumps([{k: json_value(v) for k, v in r.items()} for r in rows], ensure_ascii=False, indent=2))
                return 0
            if not rows:
                _say("Nothing has been published yet.")
                return 0
            header = f"{'id':>5}  {'published at (UTC)':<19}  {'by':<12} {'version':<8} {'files':>5} {'checks run':>10}  dbt invocation / Airflow run"
            _say(header)
            _say("-" * len(header))
            for r in rows:
                _say(
                    f"{r['publication_id']:>5}  {r['published_at'].astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S}  "
                    f"{r['published_by']:<12} {r['project_version']:<8} {r['files']:>5} {str(r['validation_run_id']):>10}  "
                    f"{r['dbt_invocation_id'] or '-'} / {r['airflow_run_id'] or '-'}"
                )
            return 0
        publication_id = audit.resolve_publication_id(conn, args.id)
        if args.action == "publication":
            detail = audit.publication(conn, publication_id)
            from govkpi.publication_docs import publication_dir

            docs = publication_dir(settings, publication_id)
            # Where this machine keeps the publication's dbt docs and GX Data Docs (warehouse DAG's `document` task).
            detail["documentation"] = str(docs) if docs.is_dir() else None
            if args.json:
                _say(json.dumps(jsonable(detail), ensure_ascii=False, indent=2))
            else:
                _print_publication(detail)
            return 0
    result = audit.verify(settings, url, publication_id, keep=args.keep)
    for line in result.differences:
        _say(f"DIFFERENT  {line}")
    checked = sorted(result.recorded)
    if result.ok:
        now = ", and marts holds them unchanged" if result.is_latest else ""
        _say(
            f"publication {publication_id} matches: its {len(checked)} marts, rebuilt from its recorded files, "
            f"hash as recorded at publication{now}"
        )
        return 0
    _say(f"publication {publication_id} does NOT match ({len(result.differences)} difference(s))")
    return 1


def _print_publication(d: dict) -> None:
    _say(f"publication {d['publication_id']}: {d['published_at'].astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC by {d['published_by']}")
    _say(f"  project version   {d['project_version']}")
    _say(f"  Airflow run       {d['airflow_dag_id'] or '-'} / {d['airflow_run_id'] or '-'}")
    _say(f"  dbt invocation    {d['dbt_invocation_id'] or '-'}")
    passed = sum(1 for r in d["validation_results"] if r["success"])
    _say(f"  validation run    {d['validation_run_id']} ({passed} of {len(d['validation_results'])} checks passed)")
    _say(f"  batches           {', '.join(map(str, d['batch_ids']))}")
    _say(f"  documentation     {d.get('documentation') or '- (not in this state folder)'}")
    _say(f"  files ({len(d['files'])}):")
    for f in d["files"]:
        _say(
            f"    {f['file_id']:>5} {f['department']:<12} {f['period']:<8} {f['file_name']}  sha256 {f['sha256'][:16]}…  "
            f"{f['rows_loaded']} loaded, {f['rows_rejected']} rejected"
        )
    _say("  marts (rows:md5 at publication):")
    for table, digest in sorted((d.get("content_hashes") or {}).items()):
        _say(f"    {table:<32} {digest}")


# --------------------------------------------------------------------------
# One stage at a time, without Airflow: govkpi load / gate / manifest / schema-diagram
# --------------------------------------------------------------------------


def cmd_load(args: argparse.Namespace) -> int:
    """Load one department's new files into `raw`, as its ingest DAG's load task does."""
    from govkpi import pipeline

    outcome = pipeline.load_department(args.settings, args.department, periods=args.period, landing=args.extracts)
    _say(outcome.summary())
    return 0


GATE_PASSED, GATE_FAILED = 0, 1  # and 2, as every GovkpiError: the gate could not run


def cmd_gate(args: argparse.Namespace) -> int:
    """Validate the dbt audit build (the publication candidate) with the Great Expectations suites."""
    from govkpi.warehouse import resolve_url

    url = resolve_url(args.settings)
    # Imported here so `--help` answers without loading Great Expectations.
    from expectations.gate import FAILURE_LOGGER, run_gate

    # Failed checks are printed in the summary below; logging them as well would say it all twice.
    logging.getLogger(FAILURE_LOGGER).setLevel(logging.ERROR)
    result = run_gate(url, candidate_schema=args.schema, run_label=args.run_label, results_dir=args.results_dir)
    if result.success:
        _say(f"PASSED: all {result.checks_run} checks of schema {args.schema} passed (validation run {result.validation_run_id}).")
        return GATE_PASSED
    passed = result.checks_run - len(result.failures)
    _say(
        f"FAILED: {len(result.failures)} of {result.checks_run} checks of schema {args.schema} failed, "
        f"{passed} passed (validation run {result.validation_run_id}). Do not publish this build."
    )
    for number, failure in enumerate(result.failures, start=1):
        _say(f"\n{number}. {failure.check}\n   suite:    {failure.suite}\n   relation: {failure.relation}\n   {failure.message}")
    return GATE_FAILED


def cmd_manifest(args: argparse.Namespace) -> int:
    """Build dbt's manifest (`dbt parse`, no database) if it is missing or older than the project."""
    from govkpi.transform import ensure_manifest

    _say(str(ensure_manifest(args.settings)))
    return 0


def cmd_schema_diagram(args: argparse.Namespace) -> int:
    """Draw the published star schema into docs/schema.md (or, with --check, say whether it is stale)."""
    from govkpi.schema_diagram import OUTPUT, build_manifest, render

    path = args.settings.project_root / OUTPUT
    text = render(build_manifest(args.settings))
    if args.check:
        if not path.exists() or path.read_text() != text:
            raise GovkpiError(f"{path} is out of date: run `govkpi schema-diagram`")
        return 0
    path.write_text(text)
    _say(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govkpi", description="Township governance KPI warehouse.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline through Airflow on a folder of extracts")
    run.add_argument("--extracts", type=Path, help="landing folder with <department>/<period>/ (default: the bundled samples)")
    # As `govkpi -v run`; SUPPRESS keeps a -v given before `run` from being reset here.
    run.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="also log progress details and print the seconds each stage took")
    run.set_defaults(func=cmd_run)
    kpi = sub.add_parser(
        "kpi",
        help="print published KPI values (now, or as public at a moment), or the values two publications differ in",
        description="`govkpi kpi [--year Y] [--kpi CODE] [--as-of WHEN]`: the published values; "
        "`govkpi kpi diff A B`: the values that differ between publications A and B, with the files that changed.",
    )
    kpi.add_argument("action", nargs="?", choices=["diff"], help="diff: compare two publications")
    kpi.add_argument("publications", nargs="*", type=int, help="with diff: two publication ids")
    kpi.add_argument("--year", type=int)
    kpi.add_argument("--kpi", help="one KPI code, e.g. hrss_trainees")
    kpi.add_argument(
        "--as-of", type=_moment, metavar="WHEN",
        help="what was public at WHEN (ISO 8601, e.g. 2024-03-01 or 2024-03-01T09:30+08:00; a date means its start, in UTC)",
    )
    kpi.add_argument("--json", action="store_true", help="a JSON array of fct_kpi_value rows")
    kpi.set_defaults(func=cmd_kpi)
    report = sub.add_parser("report", help="write the year's governance report of an area from the published warehouse")
    report.add_argument("--year", type=int, required=True)
    report.add_argument("--area", help="area code or Chinese name of the county or a township (default: the county)")
    report.add_argument(
        "--format",
        choices=["html", "xlsx", "pdf"],
        default="xlsx",
        help="xlsx (default): one sheet per department; html: one self-contained page; pdf: for print",
    )
    report.add_argument("--out", type=Path, help="the file to write (default: govkpi-report-<area>-<year>.<format>)")
    report.set_defaults(func=cmd_report)
    serve = sub.add_parser(
        "serve",
        help="serve the read-only dashboard of the published KPIs (127.0.0.1 by default)",
        description="A read-only dashboard over the published marts, read as a BI login (default govkpi_dashboard, "
        "created if missing and granted the county unless it has a grant).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    serve.add_argument("--role", default="govkpi_dashboard", help="the BI login the dashboard reads as")
    serve.add_argument(
        "--reader-url", help="connect with this URL instead (a login in govkpi_bi, e.g. with a password); no role is created"
    )
    serve.set_defaults(func=cmd_serve)
    wh = sub.add_parser("warehouse", help="manage the embedded warehouse")
    wh.add_argument("action", choices=["start", "stop", "url"])
    wh.set_defaults(func=cmd_warehouse)
    li = sub.add_parser("lineage", help="trace a published KPI to its models, checks and source files")
    li.add_argument("kpi_code", help="e.g. hrss_certificates")
    li.add_argument("--period", help="one month, YYYY-MM (default: the yearly values)")
    li.add_argument("--json", action="store_true", help="the trace as JSON, for tools")
    li.set_defaults(func=cmd_lineage)
    au = sub.add_parser("audit", help="the publication log: list, show, verify a publication")
    au_sub = au.add_subparsers(dest="action", required=True)
    listing = au_sub.add_parser("publications", help="list publications, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_audit, id=None)
    show = au_sub.add_parser("publication", help="one publication: files, checks, dbt run, marts")
    show.add_argument("id", help="publication id, or `latest`")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_audit)
    check = au_sub.add_parser("verify", help="rebuild a publication from its files and compare content hashes")
    check.add_argument("id", help="publication id, or `latest`")
    check.add_argument("--keep", action="store_true", help="keep the scratch schemas verify_<id>_* for a look")
    check.set_defaults(func=cmd_audit)

    ac = sub.add_parser(
        "access",
        help="which published rows a BI role may read: grant a township (or the county), revoke, list",
        description="Row-level security of the published marts: a role mapped to a township reads that township's "
        "rows (and its villages'); mapped to the county, all rows; not mapped, no township rows.",
    )
    ac_sub = ac.add_subparsers(dest="action", required=True)
    ac_grant = ac_sub.add_parser("grant", help="let ROLE and its members read AREA's rows")
    ac_grant.add_argument("role")
    ac_grant.add_argument("area", help="area_code of a township, or of the county")
    ac_grant.set_defaults(func=cmd_access)
    ac_revoke = ac_sub.add_parser("revoke", help="remove ROLE's grant of AREA (or all its grants)")
    ac_revoke.add_argument("role")
    ac_revoke.add_argument("area", nargs="?")
    ac_revoke.set_defaults(func=cmd_access)
    ac_sub.add_parser("list", help="every grant").set_defaults(func=cmd_access)

    # Each stage alone, for debugging and for scripts; the DAGs call the same functions.
    from govkpi.schemas import CANDIDATE
    from ingestion.specs import DEPARTMENTS

    load = sub.add_parser("load", help="load one department's new files into raw (no Airflow)")
    load.add_argument("department", choices=sorted(DEPARTMENTS))
    load.add_argument("--extracts", type=Path, help="landing folder with <department>/<period>/ (default: GOVKPI_LANDING_DIR)")
    load.add_argument("--period", action="append", help="only this period folder, e.g. 2023-03 (repeatable)")
    load.set_defaults(func=cmd_load)
    gate = sub.add_parser(
        "gate",
        help="validate the dbt audit build with the Great Expectations suites (no Airflow)",
        description="Exit 0 when every check passed, 1 when any failed, 2 when the gate could not run.",
    )
    gate.add_argument("--schema", default=CANDIDATE, help=f"schema of the audit build (default: {CANDIDATE})")
    gate.add_argument("--run-label", default="", help="label stored with the validation run, e.g. a DAG run id")
    gate.add_argument("--results-dir", type=Path, help="also write each suite's full result as JSON here")
    gate.set_defaults(func=cmd_gate)
    manifest = sub.add_parser("manifest", help="build dbt's manifest (dbt parse, no database) if missing or stale")
    manifest.set_defaults(func=cmd_manifest)
    diagram = sub.add_parser("schema-diagram", help="draw the published star schema into docs/schema.md")
    diagram.add_argument("--check", action="store_true", help="fail if docs/schema.md is out of date instead")
    diagram.set_defaults(func=cmd_schema_diagram)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # The settings are read here, once, and passed down (args.settings).
        args.settings = load_settings()
        return args.func(args)
    except GovkpiError as exc:
        print(f"govkpi: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # The warehouse went away mid-command (a restart, a crash, the network): say so, not a traceback.
        import psycopg

        if not isinstance(exc, psycopg.OperationalError):
            raise
        print(
            f"govkpi: error: lost the connection to the warehouse ({str(exc).strip().splitlines()[0]}). "
            "What was in progress was rolled back by PostgreSQL: nothing of it was committed. "
            "When the server is back, run the command again.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
