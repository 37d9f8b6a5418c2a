"""Tables the loader writes: `raw.<extract>` per spec (the load records in `audit` are govkpi.migrations').

The raw tables are generated from the specs, so adding a spec adds its
table. `ensure_schema` is idempotent and safe to run before every load.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from govkpi import schemas
from govkpi.migrations import migrate
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
    """Bring the audit tables up to date (govkpi.migrations) and create one raw table per spec, if missing."""
    migrate(conn)
    with conn.transaction():
        # Serialise concurrent first runs: two loaders creating the same
        # tables at once would otherwise race on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.ensure_schema'))")
        specs = list(specs)
        for spec in specs:
            conn.execute(raw_table_ddl(spec))
        # a column added to a spec since its table was made (township_code);
        # altered only when missing, so a load takes no exclusive lock for it
        existing = set(
            conn.execute(
                "select table_name, column_name from information_schema.columns where table_schema = %s", (RAW_SCHEMA,)
            ).fetchall()
        )
        for spec in specs:
            for name, sql_type in spec.warehouse_columns():
                if (spec.table, name) in existing:
                    continue
                conn.execute(
                    sql.SQL("alter table {}.{} add column if not exists {} {}").format(
                        sql.Identifier(RAW_SCHEMA), sql.Identifier(spec.table), sql.Identifier(name), sql.SQL(sql_type)
                    )
                )
