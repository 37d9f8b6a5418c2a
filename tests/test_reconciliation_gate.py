"""Rows lost or doubled behind the loader's back fail the gate, and the published marts stay.

Runs the pipeline through Airflow on the health alliance's sample extracts,
then tampers with `raw.health_medical_aid` directly (as a broken script or a
careless hand would), and checks that the next warehouse run fails at
validation naming the reconciliation that broke, and publishes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from conftest import SAMPLE_DIR, govkpi_env, run_govkpi
from test_publication_gate import marts_fingerprint

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture(scope="module")
def published(fresh_db: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    landing = tmp_path_factory.mktemp("landing")
    shutil.copytree(SAMPLE_DIR / "health", landing / "health", ignore=shutil.ignore_patterns("*.md"))
    env = govkpi_env(fresh_db, state_dir)
    proc = run_govkpi(["run", "--extracts", str(landing)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return landing, env


def rerun_warehouse(landing: Path, env: dict[str, str]) -> str:
    proc = run_govkpi(["run", "--extracts", str(landing)], env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # The raw tables are checked against the manifest before dbt builds anything.
    assert "govkpi_warehouse: FAILED; failed tasks: validate_raw" in proc.stdout
    return proc.stdout


def test_deleted_raw_row_fails_manifest_vs_raw(published, fresh_db):
    landing, env = published
    before = marts_fingerprint(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        deleted = conn.execute(
            "delete from raw.health_medical_aid where ctid = (select min(ctid) from raw.health_medical_aid) "
            "returning *"
        ).fetchall()
        assert len(deleted) == 1
    try:
        out = rerun_warehouse(landing, env)
        assert "manifest vs raw: health_medical_aid" in out, out
        assert marts_fingerprint(fresh_db) == before
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn, conn.cursor() as cur:
            columns = [d.name for d in conn.execute("select * from raw.health_medical_aid limit 0").description]
            cur.execute(
                f"insert into raw.health_medical_aid ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
                deleted[0],
            )


def test_duplicated_raw_row_fails_manifest_vs_raw(published, fresh_db):
    landing, env = published
    before = marts_fingerprint(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "insert into raw.health_medical_aid select * from raw.health_medical_aid "
            "where ctid = (select max(ctid) from raw.health_medical_aid)"
        )
    out = rerun_warehouse(landing, env)
    assert "manifest vs raw: health_medical_aid" in out, out
    assert marts_fingerprint(fresh_db) == before
    published_total = run_govkpi(["kpi", "--kpi", "health_medical_aid_yuan", "--year", "2023"], env)
    assert published_total.returncode == 0 and "690879.03" in published_total.stdout
