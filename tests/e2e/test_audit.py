"""The audit trail: the publication log, its atomicity with the swap, `govkpi audit`, the auditor role.

Starts from a copy of the published sample warehouse (conftest). The hash
of a published table is computed here with its own SQL, as the definition
auditors are given (docs/adr/0010): `<rows>:<md5 of the row texts sorted,
joined by newlines>`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from conftest import ROOT, govkpi_env, marts_fingerprint, run_govkpi
from psycopg import sql

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def env(published_db: str, state_dir: Path) -> dict[str, str]:
    return govkpi_env(published_db, state_dir)


def table_hash(conn: psycopg.Connection, schema: str, table: str) -> str:
    return conn.execute(
        sql.SQL("select count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') from {} t").format(
            sql.Identifier(schema, table)
        )
    ).fetchone()[0]


def latest_publication(url: str) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("select * from audit.publication order by publication_id desc limit 1")
        names = [d.name for d in cur.description]
        return dict(zip(names, cur.fetchone()))


def test_publication_log_records_what_was_published(published_db):
    pub = latest_publication(published_db)
    with psycopg.connect(published_db) as conn:
        marts = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()]
        assert sorted(pub["table_names"]) == marts
        # A content hash of every published mart, equal to the table's content now.
        assert sorted(pub["content_hashes"]) == marts
        for table in marts:
            assert pub["content_hashes"][table] == table_hash(conn, "marts", table), table
        # The files it was built from: exactly the current loaded files, with their batches.
        current = conn.execute(
            "select file_id, batch_id from audit.load_manifest where status = 'loaded' and superseded_by_file_id is null "
            "order by file_id"
        ).fetchall()
        assert pub["file_ids"] == [f for f, _ in current]
        assert pub["batch_ids"] == sorted({b for _, b in current})
        passed = conn.execute(
            "select success, scope from audit.validation_run where validation_run_id = %s", (pub["validation_run_id"],)
        ).fetchone()
        assert passed == (True, "full")
    assert pub["project_version"] and pub["dbt_invocation_id"] and pub["airflow_run_id"].startswith("manual__")


def test_validation_run_records_every_dbt_test_beside_the_expectations(published_db, sample_publication):
    """One row per GX expectation and per dbt data test and unit test of the build that was published."""
    pub = latest_publication(published_db)
    dbt_tests = {
        r["unique_id"]: r["status"]
        for r in sample_publication.run_results["results"]
        if r["unique_id"].split(".")[0] in ("test", "unit_test")
    }
    assert dbt_tests and set(dbt_tests.values()) == {"pass"}
    with psycopg.connect(published_db) as conn:
        rows = conn.execute(
            "select suite_name, relation, check_name, expectation_type, success, observed, details "
            "from audit.validation_result where validation_run_id = %s",
            (pub["validation_run_id"],),
        ).fetchall()
    recorded = {r[6]["unique_id"]: r for r in rows if r[0] == "dbt"}
    assert set(recorded) == set(dbt_tests)
    assert all(r[4] and r[5]["status"] == "pass" for r in recorded.values())
    unique = next(r for r in recorded.values() if r[2] == "unique_stg_register__areas_area_code")
    assert (unique[1], unique[3]) == ("stg_register__areas", "dbt unique")
    assert any(r[3] == "dbt unit_test" and r[1] == "fct_kpi_value" for r in recorded.values())
    # and the Great Expectations checks of the same run
    assert sum(1 for r in rows if r[0] != "dbt") > 20


def test_audit_commands_list_and_show_publications(env, published_db):
    pub = latest_publication(published_db)
    listed = run_govkpi(["audit", "publications"], env)
    assert listed.returncode == 0, listed.stderr
    assert str(pub["publication_id"]) in listed.stdout and pub["dbt_invocation_id"] in listed.stdout

    shown = run_govkpi(["audit", "publication", str(pub["publication_id"]), "--json"], env)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["publication_id"] == pub["publication_id"]
    with psycopg.connect(published_db) as conn:
        manifest = {
            r[0]: r[1:]
            for r in conn.execute("select file_id, file_name, sha256, rows_loaded, rows_rejected from audit.load_manifest")
        }
    assert [f["file_id"] for f in detail["files"]] and {f["file_id"] for f in detail["files"]} == set(pub["file_ids"])
    for f in detail["files"]:
        assert (f["file_name"], f["sha256"], f["rows_loaded"], f["rows_rejected"]) == manifest[f["file_id"]]
    assert detail["validation_results"] and all(r["success"] for r in detail["validation_results"])

    text = run_govkpi(["audit", "publication", "latest"], env)
    assert text.returncode == 0 and f"publication {pub['publication_id']}" in text.stdout
    assert "documentation" in text.stdout
    missing = run_govkpi(["audit", "publication", "999999"], env)
    assert missing.returncode == 2 and "no publication 999999" in missing.stderr


def test_each_publication_keeps_its_documentation_beside_it(sample_publication, state_dir):
    """dbt docs, the GX Data Docs of the run that passed it, and its log row, in <state>/publications/<id>/."""
    import re

    pub = latest_publication(sample_publication.url)
    folder = state_dir / "publications" / str(pub["publication_id"])
    record = json.loads((folder / "publication.json").read_text(encoding="utf-8"))
    assert (record["publication_id"], record["dbt_invocation_id"]) == (pub["publication_id"], pub["dbt_invocation_id"])
    assert {f["file_id"] for f in record["files"]} == set(pub["file_ids"])

    docs = folder / "dbt-docs"
    manifest = json.loads((docs / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs / "catalog.json").read_text(encoding="utf-8"))
    marts = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model" and "marts" in n["tags"]}
    assert {"fct_kpi_value", "dim_kpi", "fct_certificate"} <= marts
    # The catalog (columns and their types, from the warehouse) covers every mart.
    cataloged = {n["metadata"]["name"] for n in catalog["nodes"].values()}
    assert marts <= cataloged, marts - cataloged
    static = (docs / "static_index.html").read_text(encoding="utf-8")
    assert "fct_kpi_value" in static and len(static) > 100_000  # the site with manifest and catalog inlined

    gx = folder / "gx-data-docs"
    assert "Great Expectations" in (gx / "index.html").read_text(encoding="utf-8")
    validation_pages = list((gx / "validations").rglob("*.html"))
    results = sorted((folder / "validations").glob(f"validation_run_{pub['validation_run_id']}_*.json"))
    assert results and len(validation_pages) == len(results), (len(validation_pages), [p.name for p in results])
    assert all(json.loads(p.read_text(encoding="utf-8"))["success"] for p in results)

    # The same descriptions, Chinese and English, are the comments BI tools show.
    cjk, word = re.compile("[\u4e00-\u9fff]"), re.compile("[A-Za-z]{3,}")
    with psycopg.connect(sample_publication.url) as conn:
        comments = conn.execute(
            """
            select c.relname, obj_description(c.oid, 'pg_class'), a.attname, col_description(c.oid, a.attnum)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where n.nspname = 'marts' and c.relkind = 'r'
            """
        ).fetchall()
    assert {r[0] for r in comments} == marts
    for table, table_comment, column, column_comment in comments:
        for text in (table_comment, column_comment):
            assert text and cjk.search(text) and word.search(text), (table, column, text)


def test_verify_matches_then_names_the_tampered_mart(env, published_db):
    ok = run_govkpi(["audit", "verify", "latest"], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "matches" in ok.stdout
    with psycopg.connect(published_db, autocommit=True) as conn:
        conn.execute(
            "update marts.fct_kpi_value set value = value + 1 "
            "where ctid = (select min(ctid) from marts.fct_kpi_value)"
        )
    try:
        bad = run_govkpi(["audit", "verify", "latest"], env)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "marts.fct_kpi_value: changed since publication" in bad.stdout
        # Only that mart: the others, and the rebuild, still agree.
        assert bad.stdout.count("changed since publication") == 1, bad.stdout
        assert "rebuilt from the recorded files it differs" not in bad.stdout
    finally:
        with psycopg.connect(published_db, autocommit=True) as conn:
            conn.execute(
                "update marts.fct_kpi_value set value = value - 1 "
                "where ctid = (select min(ctid) from marts.fct_kpi_value)"
            )
    with psycopg.connect(published_db) as conn:
        schemas = [r[0] for r in conn.execute("select nspname from pg_namespace where nspname like 'verify%'")]
    assert schemas == [], "verify leaves no scratch schema behind"


PUBLISH = """
import sys, psycopg
from govkpi.publish import publish_candidate
with psycopg.connect(sys.argv[1]) as conn:
    conn.autocommit = True
    print(publish_candidate(conn, validation_run_id=int(sys.argv[2]), airflow_run_id="atomicity-test").publication_id, flush=True)
"""


def _publisher_waiting_at_log_insert(conn: psycopg.Connection, application: str, timeout: float = 60) -> int:
    """The backend pid of the publisher once it waits, inside its transaction, to insert the log row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "select pid, wait_event_type, query from pg_stat_activity where application_name = %s", (application,)
        ).fetchone()
        if row and row[1] == "Lock" and row[2].lstrip().lower().startswith("insert into audit.publication"):
            return row[0]
        time.sleep(0.1)
    raise AssertionError(f"the publisher never reached the publication log insert: {row}")


def _publish_behind_a_lock(published_db: str, kill: bool) -> subprocess.Popen:
    """Start a publish while audit.publication is locked against inserts; kill it there if asked."""
    pub = latest_publication(published_db)
    application = f"govkpi-atomicity-{secrets.token_hex(3)}"
    parts = urlsplit(published_db)
    query = (parts.query + "&" if parts.query else "") + f"application_name={application}"
    publisher_url = urlunsplit(parts._replace(query=query))
    with psycopg.connect(published_db) as blocker:
        # SHARE conflicts with inserts only: the publisher gets through its
        # checks, the copy and the swap, then waits at the log row.
        blocker.execute("lock table audit.publication in share mode")
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISH, publisher_url, str(pub["validation_run_id"])],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        with psycopg.connect(published_db, autocommit=True) as watcher:
            backend = _publisher_waiting_at_log_insert(watcher, application)
            # Inside its transaction the new publication is written: a publication
            # of the same shape goes in place (ADR 0032), so it holds the lock of
            # having replaced the published rows of fct_kpi_value.
            written = watcher.execute(
                "select count(*) from pg_locks where pid = %s and relation = 'marts.fct_kpi_value'::regclass "
                "and mode = 'RowExclusiveLock' and granted",
                (backend,),
            ).fetchone()[0]
            assert written == 1
            if kill:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
        blocker.commit()  # releases the lock
    if kill:
        # The backend finds its client gone when it next talks to it, and rolls back.
        with psycopg.connect(published_db, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while watcher.execute("select 1 from pg_stat_activity where pid = %s", (backend,)).fetchone():
                assert time.monotonic() < deadline, "the killed publisher's transaction is still open"
                time.sleep(0.1)
    return proc


def test_killing_publish_between_swap_and_log_row_leaves_neither(published_db):
    before_marts = marts_fingerprint(published_db)
    with psycopg.connect(published_db) as conn:
        before_log = conn.execute("select count(*), max(publication_id) from audit.publication").fetchone()
        # Make the candidate differ from what is published, so a swap would show.
        conn.execute("delete from marts_audit.fct_kpi_value where ctid = (select min(ctid) from marts_audit.fct_kpi_value)")
        conn.commit()
    _publish_behind_a_lock(published_db, kill=True)
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*), max(publication_id) from audit.publication").fetchone() == before_log
        leftovers = [r[0] for r in conn.execute(
            "select nspname from pg_namespace where nspname in ('marts_next', 'marts_retired')"
        )]
        assert leftovers == []
    assert marts_fingerprint(published_db) == before_marts

    # The control: the same steps without the kill publish both, together.
    proc = _publish_behind_a_lock(published_db, kill=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with psycopg.connect(published_db) as conn:
        count, newest = conn.execute("select count(*), max(publication_id) from audit.publication").fetchone()
        assert (count, newest) == (before_log[0] + 1, int(out.strip()))
    rows_before = int(before_marts["fct_kpi_value"].split(":")[0])
    assert marts_fingerprint(published_db)["fct_kpi_value"].split(":")[0] == str(rows_before - 1)
    assert latest_publication(published_db)["content_hashes"]["fct_kpi_value"].startswith(f"{rows_before - 1}:")


def test_auditor_reads_marts_and_audit_but_not_raw(published_db):
    user = f"auditor_{secrets.token_hex(3)}"
    with psycopg.connect(published_db, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login in role govkpi_auditor").format(sql.Identifier(user)))
        # A quarantined row to review (the samples have none).
        conn.execute(
            "insert into audit.quarantine (batch_id, file_id, file_name, row_number, column_name, reason, raw_record) "
            "select batch_id, file_id, file_name, 3, '公民身份号码', 'check digit is wrong', "
            "'{\"公民身份号码\": \"3401211990******1X\"}' from audit.load_manifest order by file_id limit 1"
        )
    try:
        with psycopg.connect(published_db, autocommit=True) as conn:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(user)))
            for table in ("audit.load_manifest", "audit.load_batch", "audit.validation_run", "audit.validation_result",
                          "audit.publication", "marts.fct_kpi_value", "marts.dim_kpi"):
                assert conn.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
            # Quarantine without the rows as delivered (they hold personal data).
            reviewed = conn.execute(
                "select count(*) from (select quarantine_id, batch_id, file_id, file_name, row_number, column_name, "
                "reason, quarantined_at from audit.quarantine) q"
            ).fetchone()[0]
            assert reviewed == 1
            refused = [
                "select raw_record from audit.quarantine",
                "select * from audit.quarantine",
                "select count(*) from raw.hrss_enrolment",
                "select count(*) from staging.stg_hrss__enrolments",
                "select count(*) from marts_audit.fct_kpi_value",
                "insert into audit.publication (project_version, batch_ids, file_ids, table_names) values ('x', '{}', '{}', '{}')",
                "delete from audit.load_manifest",
            ]
            for statement in refused:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(published_db, autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(user)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(user)))
