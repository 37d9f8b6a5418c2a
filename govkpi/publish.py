"""Promote a validated audit build to the published schema, atomically.

dbt builds the marts into `marts_audit`; dbt tests and the Great
Expectations gate check that build; only then does `publish` make it the
published `marts`, in one transaction with the publication's log row.
Readers see either the old publication or the new one, never a mix, and a
failed gate never reaches this step, so the previous publication stays.

A publication of the same tables, of the same shape, as the live one goes
in place (ADR 0032): the rows of each table whose content changed are
replaced, and MVCC gives every reader's snapshot one publication without
any lock a reader would wait on. The first publication, or one whose
tables changed shape, is copied into a fresh schema and swapped in, with
the grants BI needs and the row-level security that gives each township's
login its own rows (govkpi.access).

The candidate is copied, not renamed: `marts_audit` stays as dbt's build
schema, so the incremental facts (docs/adr/0009) carry over to the next
build and a monthly run processes that month's files only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from govkpi import __version__, schemas
from govkpi.access import apply_policies, install_functions
from govkpi.audit import schema_hashes
from govkpi.migrations import migrate
from govkpi.errors import GovkpiError
from govkpi.ledger import record_publication
from govkpi.warehouse import AUDITOR_ROLE, BI_ROLE, ensure_roles
from ingestion.ddl import returned

log = logging.getLogger(__name__)

CANDIDATE_SCHEMA = schemas.CANDIDATE
PUBLISHED_SCHEMA = schemas.PUBLISHED
_RETIRED_SCHEMA = schemas.PUBLISH_RETIRED
_NEXT_SCHEMA = schemas.PUBLISH_NEXT

# What the auditor role reads of the audit trail; audit.quarantine is
# granted column by column, without raw_record (rows as delivered).
AUDITOR_TABLES = (
    "load_batch", "load_manifest", "validation_run", "validation_result", "validation_kpi_scope", "publication",
    "kpi_value_ledger",
)


class PublishRefused(GovkpiError):
    """The candidate cannot be published (missing, or not validated)."""


@dataclass(frozen=True)
class Publication:
    publication_id: int
    tables: list[str]
    file_ids: list[int]


def ensure_publication_log(conn: psycopg.Connection) -> None:
    """audit.publication, as govkpi.migrations defines it (an up-to-date warehouse takes no lock for it)."""
    migrate(conn)


def grant_auditor(conn: psycopg.Connection) -> None:
    """The auditor role reads the audit trail: every audit table but the quarantined rows' contents."""
    auditor = sql.Identifier(AUDITOR_ROLE)
    conn.execute(sql.SQL("grant usage on schema audit to {}").format(auditor))
    present = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'audit'"
        ).fetchall()
    }
    for table in AUDITOR_TABLES:
        if table in present:
            conn.execute(sql.SQL("grant select on {} to {}").format(sql.Identifier("audit", table), auditor))
    if "quarantine" in present:
        columns = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'audit' "
                "and table_name = 'quarantine' and column_name <> 'raw_record' order by ordinal_position"
            ).fetchall()
        ]
        conn.execute(
            sql.SQL("grant select ({}) on audit.quarantine to {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), auditor
            )
        )


def publish_candidate(
    conn: psycopg.Connection,
    *,
    validation_run_id: int,
    dbt_invocation_id: str | None = None,
    airflow_dag_id: str | None = None,
    airflow_run_id: str | None = None,
    candidate: str = CANDIDATE_SCHEMA,
    published: str = PUBLISHED_SCHEMA,
) -> Publication:
    """Make `candidate` the published schema and log the publication, in one transaction (in place or by swap)."""
    ensure_roles(conn)
    ensure_publication_log(conn)
    with conn.transaction():
        # One publisher at a time; a second waits and then publishes its own build.
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.publish'))")
        passed = conn.execute(
            "select success, candidate_schema, scope from audit.validation_run where validation_run_id = %s",
            (validation_run_id,),
        ).fetchone()
        if passed is None or not passed[0] or passed[1] != candidate or passed[2] != "full":
            raise PublishRefused(
                f"validation run {validation_run_id} did not pass for schema {candidate}; "
                "nothing was published and the previous publication stays in place"
            )
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = %s and table_type = 'BASE TABLE' order by table_name",
                (candidate,),
            ).fetchall()
        ]
        if not tables:
            raise PublishRefused(f"schema {candidate} has no tables; run the warehouse build first")
        file_rows = conn.execute(
            "select file_id, batch_id from audit.load_manifest "
            "where status = 'loaded' and superseded_by_file_id is null order by file_id"
        ).fetchall()
        has_published = conn.execute(
            "select 1 from pg_namespace where nspname = %s", (published,)
        ).fetchone()
        previous, signed = _latest_publication_state(conn) if has_published else (None, {})
        if previous is not None and _same_structure(conn, candidate, published, tables):
            content_hashes, secured, changed = _publish_in_place(conn, candidate, published, tables, previous, signed)
            method = f"in place, {len(changed)} of {len(tables)} tables changed"
        else:
            content_hashes, secured = _publish_by_swap(conn, candidate, published, tables, bool(has_published))
            method = "by schema swap"
        # what the next publish need not read again (ADR 0036)
        signatures = {
            "live": table_signatures(conn, published, tables),
            "candidate": {t: [*sig, content_hashes[t]] for t, sig in table_signatures(conn, candidate, tables).items()},
        }
        grant_auditor(conn)
        # The log row, in the same transaction as the swap: both or neither.
        row = conn.execute(
            "insert into audit.publication (project_version, airflow_dag_id, airflow_run_id, dbt_invocation_id, "
            "validation_run_id, batch_ids, file_ids, table_names, content_hashes, table_signatures) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning publication_id",
            (
                __version__,
                airflow_dag_id,
                airflow_run_id,
                dbt_invocation_id,
                validation_run_id,
                sorted({int(b) for _, b in file_rows}),
                [int(f) for f, _ in file_rows],
                tables,
                Jsonb(content_hashes),
                Jsonb(signatures),
            ),
        ).fetchone()
        row = returned(row, "insert into audit.publication")
        # every value it publishes, and those it replaces, in the ledger (govkpi.ledger)
        if "fct_kpi_value" in tables:
            record_publication(conn, int(row[0]), published_schema=published, validation_run_id=validation_run_id)
    log.info(
        "published %d tables as %s (publication %s, %s); row-level security by township on %d of them",
        len(tables), published, row[0], method, len(secured),
    )
    return Publication(int(row[0]), tables, [int(f) for f, _ in file_rows])


def _publish_by_swap(
    conn: psycopg.Connection, candidate: str, published: str, tables: list[str], has_published: bool
) -> tuple[dict[str, str], list[str]]:
    """The first publication, or one whose tables changed shape: copy into a new schema and rename it in.

    Dropping the old tables takes their exclusive locks, so readers wait
    for this transaction (ADR 0032); publications of the same shape go in
    place instead.
    """
    pub = sql.Identifier(published)
    retired = sql.Identifier(_RETIRED_SCHEMA)
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(retired))
    _copy_schema(conn, candidate, _NEXT_SCHEMA, tables)
    # What is about to be published, as `govkpi audit verify` will check it.
    content_hashes = schema_hashes(conn, _NEXT_SCHEMA, tables)
    # each township's BI login reads its own rows (govkpi.access)
    secured = apply_policies(conn, _NEXT_SCHEMA, tables, published)
    nxt = sql.Identifier(_NEXT_SCHEMA)
    if has_published:
        conn.execute(sql.SQL("alter schema {} rename to {}").format(pub, retired))
    conn.execute(sql.SQL("alter schema {} rename to {}").format(nxt, pub))
    if has_published:
        conn.execute(sql.SQL("drop schema {} cascade").format(retired))
    for role in (BI_ROLE, AUDITOR_ROLE):
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(pub, sql.Identifier(role)))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(pub, sql.Identifier(role)))
    return content_hashes, secured


def _publish_in_place(
    conn: psycopg.Connection,
    candidate: str,
    published: str,
    tables: list[str],
    previous: dict[str, str],
    signed: dict[str, dict[str, list]],
) -> tuple[dict[str, str], list[str], list[str]]:
    """Replace the rows of the published tables whose content changed, in this transaction (ADR 0032).

    The tables stay the same tables: a reader's snapshot keeps seeing the
    previous publication until this commits (MVCC), and no lock a reader
    takes conflicts with deleting and inserting rows, so readers neither
    wait nor see a mix. A table whose content hash equals the live
    publication's is not touched.

    `signed`: the table signatures the last publication recorded (ADR
    0036). A candidate table with the signature it had then has the content
    hash it had then; a live table with the signature it was left with has
    not been written since. Only the others are read and hashed.
    """
    content_hashes = _hashes_unless_signed(conn, candidate, tables, signed.get("candidate", {}), with_hash=True)
    # a table is left alone only if its live rows are still those the log recorded
    # (nobody changed them since) and the candidate's are the same
    unchanged = [t for t in tables if previous.get(t) == content_hashes[t]]
    live = _hashes_unless_signed(conn, published, unchanged, signed.get("live", {}), known=previous)
    changed = [t for t in tables if t not in unchanged or live.get(t) != content_hashes[t]]
    for table in changed:
        target, source = sql.Identifier(published, table), sql.Identifier(candidate, table)
        conn.execute(sql.SQL("delete from {}").format(target))
        conn.execute(sql.SQL("insert into {} select * from {}").format(target, source))
        conn.execute(sql.SQL("analyze {}").format(target))
    for table in tables:
        comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f'"{candidate}"."{table}"',)).fetchone()[0]
        live = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f'"{published}"."{table}"',)).fetchone()[0]
        if comment != live:
            conn.execute(sql.SQL("comment on table {} is {}").format(sql.Identifier(published, table), sql.Literal(comment)))
    install_functions(conn, published)
    secured = [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relrowsecurity and c.relname = any(%s) order by 1",
            (published, tables),
        ).fetchall()
    ]
    return content_hashes, secured, changed


def _latest_publication_state(conn: psycopg.Connection) -> tuple[dict[str, str] | None, dict[str, dict[str, list]]]:
    """The content hashes the live publication was published with (None: no publication logged), and its table signatures."""
    row = conn.execute(
        "select content_hashes, table_signatures from audit.publication order by publication_id desc limit 1"
    ).fetchone()
    if not row or not row[0]:
        return None, {}
    return dict(row[0]), dict(row[1] or {})


def table_signatures(conn: psycopg.Connection, schema: str, tables: list[str]) -> dict[str, list[int]]:
    """Per table: [file node, rows, sum of 64-bit hashes of each row version's place and creating transaction].

    Any write to the table changes it (ADR 0036): an insert or update makes
    a row version at a new place (ctid) stamped with the writing
    transaction (xmin), a delete removes one; TRUNCATE, VACUUM FULL or a
    restore gives the table a new file node. Freezing keeps xmin. One pass
    over the rows without reading their values: about a sixth of the cost
    of `table_hash`.
    """
    signatures: dict[str, list[int]] = {}
    for table in tables:
        relation = sql.Identifier(schema, table)
        row = conn.execute(
            sql.SQL(
                "select pg_relation_filenode({}::regclass), count(*), "
                "coalesce(sum(hashtextextended(ctid::text || ' ' || xmin::text, 0)::numeric), 0) from {}"
            ).format(sql.Literal(f'"{schema}"."{table}"'), relation)
        ).fetchone()
        signatures[table] = [int(row[0]), int(row[1]), int(row[2])]
    return signatures


def _hashes_unless_signed(
    conn: psycopg.Connection,
    schema: str,
    tables: list[str],
    recorded: dict[str, list],
    *,
    with_hash: bool = False,
    known: dict[str, str] | None = None,
) -> dict[str, str]:
    """`table_hash` of each table, read again only where its signature differs from the one `recorded`.

    A table whose signature is the recorded one has the hash recorded with
    it (`with_hash`: the signature's fourth item), or the one in `known`.
    """
    current = table_signatures(conn, schema, tables)
    hashes: dict[str, str] = {}
    for table in tables:
        then = recorded.get(table)
        if then and list(then[:3]) == current[table]:
            hashed = then[3] if with_hash and len(then) > 3 else (known or {}).get(table)
            if hashed:
                hashes[table] = hashed
    hashes.update(schema_hashes(conn, schema, [t for t in tables if t not in hashes]))
    return hashes


def _shape(conn: psycopg.Connection, schema: str) -> dict[str, tuple]:
    """Per base table of `schema`: its columns (name, type, nullability, in order), indexes and constraints."""
    shape: dict[str, tuple] = {}
    for table, columns in conn.execute(
        "select c.relname, array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || "
        "case when a.attnotnull then ' not null' else '' end order by a.attnum) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where n.nspname = %s and c.relkind = 'r' group by c.relname",
        (schema,),
    ).fetchall():
        shape[table] = (tuple(columns),)
    for table, definitions in conn.execute(
        "select tablename, array_agg(replace(indexdef, ' ON ' || quote_ident(schemaname) || '.', ' ON ') order by indexdef) "
        "from pg_indexes where schemaname = %s group by tablename",
        (schema,),
    ).fetchall():
        shape[table] = shape.get(table, ((),)) + (tuple(sorted(d.split(" ON ", 1)[-1] for d in definitions)),)
    for table, definitions in conn.execute(
        "select c.relname, array_agg(pg_get_constraintdef(k.oid) order by pg_get_constraintdef(k.oid)) "
        "from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s group by c.relname",
        (schema,),
    ).fetchall():
        shape[table] = shape.get(table, ((),)) + ("constraints",) + tuple(definitions)
    return shape


def _same_structure(conn: psycopg.Connection, candidate: str, published: str, tables: list[str]) -> bool:
    """Whether the published schema has exactly the candidate's tables, each of the same shape."""
    wanted, live = _shape(conn, candidate), _shape(conn, published)
    return set(wanted) == set(tables) and wanted == live


def _copy_schema(conn: psycopg.Connection, source: str, target: str, tables: list[str]) -> None:
    """Copy every table of `source` into a new schema `target`: columns, constraints, indexes, comments, rows."""
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(target)))
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(target)))
    for table in tables:
        src = sql.Identifier(source, table)
        dst = sql.Identifier(target, table)
        # INCLUDING ALL brings column comments (persist_docs) but not the table's own
        conn.execute(sql.SQL("create table {} (like {} including all)").format(dst, src))
        conn.execute(sql.SQL("insert into {} select * from {}").format(dst, src))
        comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f'"{source}"."{table}"',)).fetchone()
        if comment and comment[0]:
            conn.execute(sql.SQL("comment on table {} is {}").format(dst, sql.Literal(comment[0])))
