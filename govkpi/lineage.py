"""`govkpi lineage`: from a published KPI value back to the source files, through the models and checks.

The trace of one KPI (and, optionally, one month) in the latest publication:

- the published values (`marts.fct_kpi_value`, township rows) and the KPI's definition;
- the publication that made them public (`audit.publication`);
- the models: dbt's graph (the manifest `govkpi manifest` builds), from
  the raw tables and seeds behind the mart models the KPI reads (its rows
  of the KPI registry, govkpi/kpi_registry.py) through to `fct_kpi_value`;
- the source files: for a mart model whose rows the KPI counts or sums, the
  files holding the rows dated in the period (counted row by row through
  `source_file_id`); for the staging models it also reads, their files in
  the publication; each with name, sha256, department, period, received and
  loaded times, rows loaded and rejected, all from `audit.load_manifest`;
- the checks that passed on the way: the rows of the publication's
  validation run (Great Expectations and dbt tests) on those models and
  raw tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from govkpi import schemas
from govkpi.audit import AuditError
from govkpi.delivery import TIMEZONE
from govkpi.kpi_registry import Registry

KPI_MODEL = "model.govkpi.fct_kpi_value"
STAGING_SCHEMA = schemas.STAGING
MARTS_SCHEMA = schemas.PUBLISHED


def load_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _parents(manifest: dict[str, Any]) -> dict[str, list[str]]:
    return {uid: node.get("depends_on", {}).get("nodes", []) for uid, node in manifest["nodes"].items()}


def _ancestors(parents: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        for parent in parents.get(queue.popleft(), []):
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return seen


def lineage_nodes(manifest: dict[str, Any], models: list[str]) -> list[str]:
    """Unique ids of what the KPI's mart models are built from, and of the nodes from them to fct_kpi_value, in build order."""
    parents = _parents(manifest)
    above_kpi = _ancestors(parents, KPI_MODEL)
    starts = [f"model.govkpi.{m}" for m in models]
    missing = [s for s in starts if s not in above_kpi]
    if missing:
        raise AuditError(f"the KPI registry names models that do not feed fct_kpi_value: {', '.join(missing)}")
    # Between: nodes above the KPI model that have one of the starts among their ancestors.
    between = {n for n in above_kpi if n.startswith("model.") and set(starts) & _ancestors(parents, n)}
    behind = set().union(*(_ancestors(parents, s) for s in starts))
    path = set(starts) | between | behind | {KPI_MODEL}
    # What the path reads besides: sources (raw tables) and seeds.
    reads = {p for n in path for p in parents.get(n, []) if p.startswith(("source.", "seed."))}
    nodes = path | reads
    depth: dict[str, int] = {}

    def level(n: str) -> int:
        if n not in depth:
            depth[n] = 1 + max((level(p) for p in parents.get(n, []) if p in nodes), default=-1)
        return depth[n]

    return sorted(nodes, key=lambda n: (level(n), n))


def _period_bounds(period: str) -> tuple[dt.date, dt.date]:
    try:
        start = dt.date.fromisoformat(period + "-01")
    except ValueError:
        raise AuditError(f"--period takes a month as YYYY-MM, not {period!r}") from None
    end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def _files_of(
    conn: psycopg.Connection, schema: str, model: str, file_ids: list[int], date: str | None, bounds, where: str | None = None
) -> dict[int, int]:
    """{file id: rows of `<schema>.<model>`} among the publication's files, optionally for rows dated in `bounds`.

    `where` is the registry's filter of the model's rows (SQL from the dbt
    project, never from a user). Empty for a model without `source_file_id`
    (one built from seeds).
    """
    has_file_id = conn.execute(
        "select 1 from information_schema.columns where table_schema = %s and table_name = %s and column_name = 'source_file_id'",
        (schema, model),
    ).fetchone()
    if has_file_id is None:
        return {}
    table = sql.Identifier(schema, model)
    conditions = [sql.SQL("source_file_id = any(%(files)s)")]
    if where:
        conditions.append(sql.SQL("({})").format(sql.SQL(where)))  # type: ignore[arg-type]  # project SQL
    params: dict[str, Any] = {"files": file_ids}
    if date and bounds:
        kind = conn.execute(
            "select data_type from information_schema.columns where table_schema = %s and table_name = %s and column_name = %s",
            (schema, model, date),
        ).fetchone()
        if kind is None:
            raise AuditError(f"the KPI registry dates {model} by {date!r}, which it does not have")
        column = sql.Identifier(date)
        dated = sql.SQL("({} at time zone %(zone)s)::date").format(column) if kind[0].startswith("timestamp") else column
        conditions.append(sql.SQL("{} >= %(start)s and {} < %(end)s").format(dated, dated))
        params.update({"zone": TIMEZONE.key, "start": bounds[0], "end": bounds[1]})
    query = sql.SQL("select source_file_id, count(*) from {} where {} group by source_file_id").format(
        table, sql.SQL(" and ").join(conditions)
    )
    return {int(f): int(n) for f, n in conn.execute(query, params).fetchall()}


def trace(
    conn: psycopg.Connection, manifest: dict[str, Any], registry: Registry, kpi_code: str, period: str | None = None
) -> dict[str, Any]:
    """The lineage of one KPI (one month of it with `period`) in the latest publication."""
    if kpi_code not in registry.kpis:
        known = ", ".join(sorted(registry.kpis))
        raise AuditError(f"no KPI {kpi_code!r}; the KPIs are: {known}")
    cur = conn.cursor(row_factory=dict_row)
    publication = _latest_publication(cur)
    bounds = _period_bounds(period) if period else None
    kpi = cur.execute(
        "select kpi_code, name_zh, name_en, department, unit, definition from marts.dim_kpi where kpi_code = %s",
        (kpi_code,),
    ).fetchone()
    node_ids = lineage_nodes(manifest, registry.models(kpi_code))
    models = _models(manifest, node_ids)
    file_ids = [int(f) for f in publication.pop("file_ids")]
    return {
        "kpi": kpi,
        "period": period,
        "values": _values(cur, kpi_code, bounds),
        "publication": publication,
        "models": models,
        "files": _files(conn, manifest, registry, kpi_code, node_ids, file_ids, bounds),
        "checks": _checks(cur, models, publication["validation_run_id"]),
    }


def _latest_publication(cur) -> dict[str, Any]:
    if cur.execute("select to_regclass('audit.publication') is not null as ok").fetchone()["ok"] is False:
        raise AuditError("nothing has been published yet: run `govkpi run` first")
    publication = cur.execute(
        "select publication_id, published_at, published_by, project_version, airflow_dag_id, airflow_run_id, "
        "dbt_invocation_id, validation_run_id, file_ids from audit.publication order by publication_id desc limit 1"
    ).fetchone()
    if publication is None:
        raise AuditError("nothing has been published yet: run `govkpi run` first")
    return publication


def _values(cur, kpi_code: str, bounds) -> list[dict[str, Any]]:
    """The township's published values: of the month in `bounds`, or of every year."""
    columns = (
        "select period_grain, period_start_date, area_code, breakdown_dimension, breakdown_member, value, numerator, "
        "denominator from marts.fct_kpi_value where kpi_code = %s and area_level = 'township' "
    )
    if bounds:
        return cur.execute(
            columns + "and period_grain = 'month' and period_start_date = %s "
            "order by breakdown_dimension nulls first, breakdown_member nulls first",
            (kpi_code, bounds[0]),
        ).fetchall()
    return cur.execute(
        columns + "and period_grain = 'year' "
        "order by period_start_date, breakdown_dimension nulls first, breakdown_member nulls first",
        (kpi_code,),
    ).fetchall()


def _models(manifest: dict[str, Any], node_ids: list[str]) -> list[dict[str, Any]]:
    nodes = {**manifest["nodes"], **manifest.get("sources", {})}
    models = []
    for uid in node_ids:
        node = nodes.get(uid, {})
        name = node.get("alias") or node.get("identifier") or node.get("name")
        models.append(
            {
                "unique_id": uid,
                "resource_type": node.get("resource_type"),
                "relation": f"{node.get('schema')}.{name}",
                "description": (node.get("description") or "").strip().split("\n")[0],
            }
        )
    return models


def _files(
    conn: psycopg.Connection,
    manifest: dict[str, Any],
    registry: Registry,
    kpi_code: str,
    node_ids: list[str],
    file_ids: list[int],
    bounds,
) -> list[dict[str, Any]]:
    """The publication's files behind the KPI: those whose rows it counts (events), then those it also reads."""
    rows_by_file: dict[int, dict[str, Any]] = {}
    key = "rows_in_period" if bounds else "rows"
    dated = [source for source in registry.sources(kpi_code) if source.date is not None]
    for source in dated:
        for file_id, rows in _files_of(conn, MARTS_SCHEMA, source.model, file_ids, source.date, bounds, source.where).items():
            rows_by_file.setdefault(file_id, {"role": "events", "model": source.model, key: rows})
    staging_models = [
        manifest["nodes"][n]["name"]
        for n in node_ids
        if n.startswith("model.") and manifest["nodes"][n]["schema"] == STAGING_SCHEMA
    ]
    for model in staging_models:
        for file_id, rows in _files_of(conn, STAGING_SCHEMA, model, file_ids, None, None).items():
            rows_by_file.setdefault(file_id, {"role": "reads", "model": model, "rows": rows})
    # an extract whose rows the KPI counts is listed as events only, also its files of other periods
    event_files = [f for source in dated for f in _files_of(conn, MARTS_SCHEMA, source.model, file_ids, None, None)]
    extract_of = dict(
        conn.execute(
            "select file_id, extract_name from audit.load_manifest where file_id = any(%s)",
            (list(rows_by_file) + event_files,),
        ).fetchall()
    )
    event_extracts = {extract_of.get(f) for f in event_files}
    rows_by_file = {f: r for f, r in rows_by_file.items() if r["role"] == "events" or extract_of.get(f) not in event_extracts}
    if not rows_by_file:
        return []
    manifest_rows = conn.cursor(row_factory=dict_row).execute(
        "select file_id, batch_id, department, extract_name, period, file_name, sha256, received_at, loaded_at, "
        "rows_read, rows_loaded, rows_rejected from audit.load_manifest where file_id = any(%s) "
        "order by extract_name, period, file_id",
        (list(rows_by_file),),
    ).fetchall()
    files = [{**r, **rows_by_file[r["file_id"]]} for r in manifest_rows]
    files.sort(key=lambda f: (f["role"] != "events", f["extract_name"], f["period"], f["file_id"]))
    return files


def _checks(cur, models: list[dict[str, Any]], validation_run_id: int) -> list[dict[str, Any]]:
    """The checks of the publication's validation run on the KPI's models and tables."""
    relations = {m["relation"].split(".", 1)[1] for m in models} | {m["relation"] for m in models}
    return [
        r
        for r in cur.execute(
            "select suite_name, relation, check_name, expectation_type, success, observed "
            "from audit.validation_result where validation_run_id = %s order by suite_name, relation, check_name",
            (validation_run_id,),
        ).fetchall()
        if r["relation"] in relations or r["relation"].split(".", 1)[-1] in relations
    ]
