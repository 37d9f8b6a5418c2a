"""Tables the loader writes: `raw.<extract>` per spec, and the load records in `audit`.

The raw tables are generated from the specs, so adding a spec adds its
table. `ensure_schema` is idempotent and safe to run before every load.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from govkpi import schemas
from ingestion.spec import ExtractSpec


def returned(row: tuple | None, statement: str) -> tuple:
    """The row of a statement that always returns one (`INSERT ... RETURNING`, an aggregate)."""
    if row is None:
        raise RuntimeError(f"{statement} returned no row")
    return row


RAW_SCHEMA = schemas.RAW
AUDIT_SCHEMA = schemas.AUDIT

# Columns every raw row carries, so any published number can be traced back
# to the batch, the file and the row it came from.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_batch_id", "bigint not null"),
    ("_file_id", "bigint not null"),
    ("_row_number", "integer not null"),
)

AUDIT_DDL = """
create schema if not exists raw;
create schema if not exists audit;

create table if not exists audit.load_batch (
    batch_id bigint generated always as identity primary key,
    department text not null,
    period text,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    status text not null check (status in ('running', 'loaded', 'refused', 'empty')),
    airflow_dag_id text,
    airflow_run_id text,
    message text
);

create table if not exists audit.load_manifest (
    file_id bigint generated always as identity primary key,
    batch_id bigint not null references audit.load_batch (batch_id),
    department text not null,
    extract_name text not null,
    period text not null,
    file_name text not null,
    file_path text not null,
    sha256 text not null,
    size_bytes bigint not null,
    encoding text,
    received_at timestamptz not null,
    loaded_at timestamptz not null default now(),
    rows_read integer not null,
    rows_loaded integer not null,
    rows_rejected integer not null,
    status text not null check (status in ('loaded', 'refused')),
    superseded_by_file_id bigint references audit.load_manifest (file_id),
    message text,
    delivery text not null default 'events' check (delivery in ('events', 'snapshot')),
    constraint load_manifest_rows_add_up check (rows_read = rows_loaded + rows_rejected),
    -- The same bytes delivered again are recognised, never loaded twice.
    constraint load_manifest_one_copy unique (extract_name, sha256)
);

create table if not exists audit.quarantine (
    quarantine_id bigint generated always as identity primary key,
    batch_id bigint not null references audit.load_batch (batch_id),
    file_id bigint not null references audit.load_manifest (file_id),
    file_name text not null,
    row_number integer,
    column_name text,
    reason text not null,
    -- The row as delivered, restricted to the spec's columns, with resident
    -- ID numbers masked: enough to review, never personal data in clear.
    raw_record jsonb,
    quarantined_at timestamptz not null default now()
);
create index if not exists quarantine_file_idx on audit.quarantine (file_id);

-- Added after the first release: warehouses created before it get it here.
alter table audit.load_manifest add column if not exists
    delivery text not null default 'events' check (delivery in ('events', 'snapshot'));
"""


def raw_table_ddl(spec: ExtractSpec) -> sql.Composed:
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(sql_type))
        for name, sql_type in spec.warehouse_columns()
    ] + [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(decl)) for name, decl in LINEAGE_COLUMNS]
    # A BRIN index on _file_id: a file's rows are appended together, so the
    # block ranges of a BRIN index find them as well as a B-tree would, and
    # COPY keeps it up to date almost for free (a B-tree cost the server
    # about a quarter of its time loading a million rows; ADR 0016).
    # Warehouses created before it had a B-tree: it is replaced.
    index = sql.Identifier(f"{spec.table}_file_idx")
    table = sql.SQL("{}.{}").format(sql.Identifier(RAW_SCHEMA), sql.Identifier(spec.table))
    return sql.SQL(
        """create table if not exists {table} ({columns});
do $$ begin
  if exists (select from pg_class c join pg_am am on am.oid = c.relam
             where c.oid = to_regclass({qualified_index}) and am.amname <> 'brin') then
    execute {drop};
  end if;
end $$;
create index if not exists {index} on {table} using brin (_file_id)"""
    ).format(
        table=table,
        columns=sql.SQL(", ").join(columns),
        index=index,
        qualified_index=sql.Literal(f"{RAW_SCHEMA}.{spec.table}_file_idx"),
        drop=sql.Literal(sql.SQL("drop index {}.{}").format(sql.Identifier(RAW_SCHEMA), index).as_string()),
    )


def ensure_schema(conn: psycopg.Connection, specs: Iterable[ExtractSpec]) -> None:
    """Create the audit tables and one raw table per spec, if missing."""
    with conn.transaction():
        # Serialise concurrent first runs: two loaders creating the same
        # tables at once would otherwise race on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.ensure_schema'))")
        conn.execute(AUDIT_DDL)
        for spec in specs:
            conn.execute(raw_table_ddl(spec))
