"""The audit trail of publications: what each one holds, and whether it still matches.

Every publication records, in `audit.publication` (written in the same
transaction as the swap, govkpi.publish), the files and batches it was
built from, the dbt invocation, the validation run that passed it, and a
content hash of every published mart. This module reads that back:

- `publications` / `publication`: the log, one publication in full;
- `verify`: rebuild a publication from its recorded files with dbt into
  scratch schemas (`verify_<id>_*`) and compare, mart by mart, the hash
  recorded at publication with the rebuilt one and with what `marts` holds
  now. A difference says which mart and how: not reproducible from its
  files (rebuilt != recorded) or changed since it was published
  (published != recorded).

The hash of a table is its row count and the md5 of its rows' text forms,
sorted, so it does not depend on physical order; `table_hash` is the one
definition both sides use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from govkpi import schemas
from govkpi.errors import GovkpiError
from ingestion.ddl import returned

log = logging.getLogger(__name__)

PUBLISHED_SCHEMA = schemas.PUBLISHED
# dbt's custom schemas (dbt_project.yml): a verify build prefixes each one.
DBT_SCHEMAS = schemas.DBT_SCHEMAS
MARTS_BUILD_SCHEMA = schemas.CANDIDATE


class AuditError(GovkpiError):
    """An audit question that cannot be answered (no such publication, nothing published)."""


def table_hash(conn: psycopg.Connection, schema: str, table: str) -> str:
    """`<rows>:<md5 of the sorted row texts>` of one table: equal content, equal hash."""
    row = conn.execute(
        sql.SQL(
            "select count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') from {} t"
        ).format(sql.Identifier(schema, table))
    ).fetchone()
    return str(returned(row, f"the content hash of {schema}.{table}")[0])


def schema_hashes(conn: psycopg.Connection, schema: str, tables: list[str] | None = None) -> dict[str, str]:
    """`table_hash` of every base table of `schema` (or of `tables`, missing ones omitted)."""
    present = [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE' "
            "order by table_name",
            (schema,),
        ).fetchall()
    ]
    wanted = present if tables is None else [t for t in tables if t in present]
    return {t: table_hash(conn, schema, t) for t in wanted}


def publications(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The publication log, newest first, one summary row per publication."""
    if not _has_log(conn):
        return []
    return conn.cursor(row_factory=dict_row).execute(
        """
        select publication_id, published_at, published_by, project_version, airflow_dag_id, airflow_run_id,
               dbt_invocation_id, validation_run_id, cardinality(batch_ids) as batches,
               cardinality(file_ids) as files, cardinality(table_names) as tables
        from audit.publication
        order by publication_id desc
        """
    ).fetchall()


def resolve_publication_id(conn: psycopg.Connection, ref: str) -> int:
    """A publication id from `ID` or `latest`."""
    if ref == "latest":
        row = conn.execute("select max(publication_id) from audit.publication").fetchone() if _has_log(conn) else None
        if row is None or row[0] is None:
            raise AuditError("nothing has been published yet: audit.publication is empty. Run `govkpi run` first.")
        return int(row[0])
    try:
        return int(ref)
    except ValueError:
        raise AuditError(f"a publication is named by its number or `latest`, not {ref!r}") from None


def publication(conn: psycopg.Connection, publication_id: int) -> dict[str, Any]:
    """One publication with everything recorded about it: files, checks, dbt run, marts and their hashes."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute("select * from audit.publication where publication_id = %s", (publication_id,)).fetchone() if _has_log(conn) else None
    if row is None:
        raise AuditError(f"there is no publication {publication_id}; `govkpi audit publications` lists them")
    files = cur.execute(
        """
        select file_id, batch_id, department, extract_name, period, file_name, sha256, received_at, loaded_at,
               rows_read, rows_loaded, rows_rejected, status, superseded_by_file_id
        from audit.load_manifest where file_id = any(%s) order by department, extract_name, period, file_id
        """,
        (row["file_ids"],),
    ).fetchall()
    checks = []
    if row["validation_run_id"] is not None:
        checks = cur.execute(
            """
            select suite_name, relation, check_name, expectation_type, success, observed
            from audit.validation_result where validation_run_id = %s order by suite_name, relation, check_name
            """,
            (row["validation_run_id"],),
        ).fetchall()
    return {**row, "files": files, "validation_results": checks}


@dataclass
class Verification:
    publication_id: int
    recorded: dict[str, str]
    rebuilt: dict[str, str]
    published: dict[str, str]
    is_latest: bool
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def compare(
    publication_id: int, recorded: dict[str, str], rebuilt: dict[str, str], published: dict[str, str], is_latest: bool
) -> Verification:
    """What differs between the recorded, rebuilt and (for the latest publication) published marts."""
    result = Verification(publication_id, recorded, rebuilt, published, is_latest)
    for table in sorted(set(recorded) | set(rebuilt)):
        if table not in rebuilt:
            result.differences.append(f"{table}: recorded at publication but not rebuilt from its files")
        elif table not in recorded:
            result.differences.append(f"{table}: rebuilt from the files but not in the publication")
        elif rebuilt[table] != recorded[table]:
            result.differences.append(
                f"{table}: rebuilt from the recorded files it differs from what was published "
                f"(rows:md5 recorded {recorded[table]}, rebuilt {rebuilt[table]})"
            )
    if is_latest:
        for table in sorted(recorded):
            now = published.get(table)
            if now is None:
                result.differences.append(f"marts.{table}: missing from the published schema")
            elif now != recorded[table]:
                result.differences.append(
                    f"marts.{table}: changed since publication {publication_id} "
                    f"(rows:md5 recorded {recorded[table]}, now {now})"
                )
    return result


def verify(settings: Any, warehouse_url: str, publication_id: int, *, keep: bool = False) -> Verification:
    """Rebuild a publication from its recorded files into scratch schemas and compare content hashes."""
    from govkpi.transform import run_dbt

    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute(
            "select file_ids, content_hashes, (publication_id = (select max(publication_id) from audit.publication)) "
            "from audit.publication where publication_id = %s",
            (publication_id,),
        ).fetchone() if _has_log(conn) else None
        if row is None:
            raise AuditError(f"there is no publication {publication_id}; `govkpi audit publications` lists them")
        file_ids, recorded, is_latest = row
        if not recorded:
            raise AuditError(f"publication {publication_id} recorded no content hashes (published before they were kept)")
        published = schema_hashes(conn, PUBLISHED_SCHEMA, list(recorded)) if is_latest else {}
    prefix = f"verify_{publication_id}"
    variables = {"schema_prefix": prefix, "as_of_file_ids": [int(f) for f in file_ids]}
    target = settings.state_dir / "dbt" / f"verify-{publication_id}"
    try:
        _drop_schemas(warehouse_url, prefix)
        # Seeds and models only: the tests passed at publication; what is
        # compared here is the content.
        run_dbt(
            settings,
            warehouse_url,
            ["build", "--exclude-resource-type", "test", "unit_test", "--vars", json.dumps(variables)],
            target_path=target,
        )
        with psycopg.connect(warehouse_url) as conn:
            rebuilt = schema_hashes(conn, f"{prefix}_{MARTS_BUILD_SCHEMA}")
    finally:
        if not keep:
            _drop_schemas(warehouse_url, prefix)
    return compare(publication_id, dict(recorded), rebuilt, published, bool(is_latest))


def _drop_schemas(warehouse_url: str, prefix: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for schema in DBT_SCHEMAS:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(f"{prefix}_{schema}")))


def _has_log(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('audit.publication') is not null").fetchone()
    return bool(row and row[0])
