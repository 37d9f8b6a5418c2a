"""The warehouse's `audit` tables, defined here once, as numbered migrations.

Every step that writes to `audit` (the loader, the gate, publish) calls
`migrate(conn)` first. It applies, in order and each once, the migrations a
warehouse has not had yet, and records them in `audit.schema_migration`: a
warehouse created by any earlier version of govkpi is brought up to date,
and one that is up to date costs a single query. The raw tables are made
from the extract specs (`ingestion.ddl`), not here.

A change to an audit table is a new migration at the end of `MIGRATIONS`,
never an edit of one that has shipped. The first migrations use `if not
exists`, because warehouses older than this module already have some of
their tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from govkpi import schemas


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "load records: batches, files, quarantined cells",
        """
create schema if not exists raw;

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
""",
    ),
    Migration(
        2,
        "load_manifest.delivery: events or snapshot",
        """
alter table audit.load_manifest add column if not exists
    delivery text not null default 'events' check (delivery in ('events', 'snapshot'));
""",
    ),
    Migration(
        3,
        "validation runs and their check results",
        """
create table if not exists audit.validation_run (
    validation_run_id bigint generated always as identity primary key,
    run_label text,
    candidate_schema text not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    success boolean,
    gx_version text
);

create table if not exists audit.validation_result (
    validation_result_id bigint generated always as identity primary key,
    validation_run_id bigint not null references audit.validation_run (validation_run_id),
    suite_name text not null,
    relation text not null,
    check_name text not null,
    expectation_type text not null,
    success boolean not null,
    observed jsonb,
    details jsonb
);
create index if not exists validation_result_run_idx on audit.validation_result (validation_run_id);
""",
    ),
    Migration(
        4,
        "validation_run.scope: raw or full",
        """
-- 'raw': the loader's tables only, before a build; 'full': the candidate
-- build too. Only a passing 'full' run can be published.
alter table audit.validation_run
    add column if not exists scope text not null default 'full' check (scope in ('raw', 'full'));
""",
    ),
    Migration(
        5,
        "the publication log",
        """
create table if not exists audit.publication (
    publication_id bigint generated always as identity primary key,
    published_at timestamptz not null default now(),
    published_by text not null default current_user,
    project_version text not null,
    airflow_dag_id text,
    airflow_run_id text,
    dbt_invocation_id text,
    validation_run_id bigint,
    batch_ids bigint[] not null,
    file_ids bigint[] not null,
    table_names text[] not null
);
""",
    ),
    Migration(
        6,
        "publication.content_hashes",
        """
alter table audit.publication add column if not exists content_hashes jsonb;
comment on column audit.publication.content_hashes is
    'Per published table: row count and md5 of its rows'' text forms, sorted (govkpi.audit.table_hash)';
""",
    ),
    Migration(
        7,
        "load_manifest.township_code",
        """
alter table audit.load_manifest add column if not exists township_code text;
comment on column audit.load_manifest.township_code is
    'The township the file is for (by its name, or the register''s only one); null for a county file whose 乡镇 column names each row''s township. A file supersedes the loaded file of the same extract, period and township_code.';
""",
    ),
    Migration(
        8,
        "bi_area_access: which areas a BI role may read",
        """
create table if not exists audit.bi_area_access (
    role_name text not null,
    area_code text not null,
    granted_at timestamptz not null default now(),
    granted_by text not null default current_user,
    primary key (role_name, area_code)
);
comment on table audit.bi_area_access is
    'Row-level security of the published marts (govkpi.access): a role, and its members, may read the rows of these areas (a township: its own and its villages''; the county: all). A role with no row reads no township rows.';
""",
    ),
    Migration(
        9,
        "validation runs: the suites' code, and the KPI partitions checked",
        """
alter table audit.validation_run add column if not exists suite_sha256 text;
alter table audit.validation_run add column if not exists kpi_scope text;
alter table audit.validation_run add column if not exists kpi_scope_publication_id bigint;
comment on column audit.validation_run.suite_sha256 is
    'SHA-256 of the expectation suites'' code (the expectations package) the run validated with';
comment on column audit.validation_run.kpi_scope is
    'Which fct_kpi_value partitions the partition checks read: every one, and why, or those that differ from a publication validated with the same suites (docs/adr/0026)';
comment on column audit.validation_run.kpi_scope_publication_id is
    'The publication the recorded KPI partitions differ from; null when they are every partition';
create table if not exists audit.validation_kpi_scope (
    validation_run_id bigint not null references audit.validation_run (validation_run_id),
    kpi_code text,
    period_grain text,
    period_start_date date
);
create index if not exists validation_kpi_scope_run_idx on audit.validation_kpi_scope (validation_run_id);
comment on table audit.validation_kpi_scope is
    'The KPI partitions (KPI, grain, period) whose rows the partition checks of fct_kpi_value read in a validation run (docs/adr/0026)';
""",
    ),
    Migration(
        10,
        "kpi_value_ledger: every published KPI value, when it was published and replaced",
        """
create table if not exists audit.kpi_value_ledger (
    kpi_code text not null,
    period_grain text not null,
    period_start_date date not null,
    area_level text not null,
    area_code text not null,
    breakdown_dimension text,
    breakdown_member text,
    value numeric,
    numerator numeric,
    denominator numeric,
    published_in bigint not null references audit.publication (publication_id),
    replaced_in bigint references audit.publication (publication_id)
);
-- one live value per KPI, period, area and breakdown member
create unique index if not exists kpi_value_ledger_live_idx on audit.kpi_value_ledger (
    kpi_code, period_grain, period_start_date, area_level, area_code,
    coalesce(breakdown_dimension, ''), coalesce(breakdown_member, '')
) where replaced_in is null;
create index if not exists kpi_value_ledger_published_in_idx on audit.kpi_value_ledger (published_in);
create index if not exists kpi_value_ledger_replaced_in_idx on audit.kpi_value_ledger (replaced_in);
comment on table audit.kpi_value_ledger is
    'Every published fct_kpi_value row: published_in is the publication that first published the value, replaced_in the one that changed or withdrew it (null while live). govkpi kpi --as-of and govkpi kpi diff read it (govkpi.ledger, docs/adr/0028).';
""",
    ),
    Migration(
        11,
        "pseudonym_key: the fingerprint of the key the warehouse's pseudonyms were made with",
        """
create table if not exists audit.pseudonym_key (
    fingerprint text not null,
    recorded_at timestamptz not null default now(),
    recorded_by text not null default current_user
);
create unique index if not exists pseudonym_key_one_row on audit.pseudonym_key ((true));
comment on table audit.pseudonym_key is
    'HMAC-SHA256, under GOVKPI_PSEUDONYM_KEY, of a fixed text: identifies the key the pseudonyms were made with without revealing it. The loader refuses to load with another key (ingestion.loader.check_pseudonym_key).';
""",
    ),
    Migration(
        12,
        "publication.table_signatures: what publish need not read again",
        """
alter table audit.publication add column if not exists table_signatures jsonb;
comment on column audit.publication.table_signatures is
    'Per table, after this publication: {"live": {table: [file node, rows, sum of hashes of each row version''s ctid and xmin]}, "candidate": {table: [the same, content hash]}}. Any write to a table changes its signature; the next publish re-reads only tables whose signature changed (govkpi.publish, docs/adr/0036).';
""",
    ),
)

LATEST = MIGRATIONS[-1].version
_TABLE = f"{schemas.AUDIT}.schema_migration"


def applied_version(conn: psycopg.Connection) -> int:
    """The newest migration the warehouse has had (0: none, or older than migrations)."""
    exists = conn.execute("select to_regclass(%s) is not null", (_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(f"select coalesce(max(version), 0) from {_TABLE}").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection) -> int:
    """Apply the migrations the warehouse has not had, in order; return the version it is at.

    Concurrent callers (two loaders starting at once) are serialised by an
    advisory lock; the second finds the work done. An up-to-date warehouse
    costs one query and takes no lock.
    """
    if applied_version(conn) >= LATEST:
        return LATEST
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.migrate'))")
        conn.execute(f"create schema if not exists {schemas.AUDIT}")
        conn.execute(
            f"create table if not exists {_TABLE} ("
            "version integer primary key, name text not null, applied_at timestamptz not null default now())"
        )
        done = applied_version(conn)
        for migration in MIGRATIONS:
            if migration.version > done:
                conn.execute(migration.statements)
                conn.execute(f"insert into {_TABLE} (version, name) values (%s, %s)", (migration.version, migration.name))
    return LATEST
