"""The audit tables come from one list of numbered migrations, applied once each, old warehouses included."""

from __future__ import annotations

import psycopg
import pytest

from govkpi.migrations import LATEST, MIGRATIONS, applied_version, migrate

pytestmark = pytest.mark.integration

AUDIT_TABLES = {
    "load_batch", "load_manifest", "quarantine", "validation_run", "validation_result", "publication", "schema_migration",
    "bi_area_access", "validation_kpi_scope", "kpi_value_ledger", "pseudonym_key",
}


def columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'audit' and table_name = %s "
            "order by ordinal_position",
            (table,),
        )
    ]


def test_a_new_warehouse_gets_every_migration_once(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("drop schema if exists audit cascade")
        assert applied_version(conn) == 0

        assert migrate(conn) == LATEST
        assert migrate(conn) == LATEST, "a second call finds nothing to do"

        tables = {r[0] for r in conn.execute("select table_name from information_schema.tables where table_schema = 'audit'")}
        assert tables == AUDIT_TABLES
        recorded = conn.execute("select version, name from audit.schema_migration order by version").fetchall()
        assert recorded == [(m.version, m.name) for m in MIGRATIONS]
        assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1)), "numbered in order, none skipped"
        assert columns(conn, "load_manifest")[-2:] == ["delivery", "township_code"]
        assert "scope" in columns(conn, "validation_run") and "content_hashes" in columns(conn, "publication")


def test_a_warehouse_from_before_migrations_is_brought_up_to_date_keeping_its_rows(fresh_db):
    """The first release created the tables without the later columns and kept no migration record."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("drop schema if exists audit cascade")
        conn.execute("create schema audit")
        conn.execute(MIGRATIONS[0].statements)  # the load tables as first released
        conn.execute(MIGRATIONS[2].statements)  # validation tables without scope
        conn.execute(MIGRATIONS[4].statements)  # the publication log without content hashes
        conn.execute("insert into audit.validation_run (candidate_schema, success) values ('marts_audit', true)")
        assert "delivery" not in columns(conn, "load_manifest") and "scope" not in columns(conn, "validation_run")

        migrate(conn)

        assert applied_version(conn) == LATEST
        assert columns(conn, "load_manifest")[-2:] == ["delivery", "township_code"]
        assert conn.execute("select candidate_schema, success, scope from audit.validation_run").fetchall() == [
            ("marts_audit", True, "full")
        ]
        assert "content_hashes" in columns(conn, "publication")
