"""Rows lost or doubled behind the loader's back fail the gate, and the published marts stay.

Starts from a copy of the published sample warehouse (conftest), tampers
with raw tables directly (as a broken script or a careless hand would: a
row of `raw.health_medical_aid` deleted, one of `raw.enf_case` doubled),
and checks that the next warehouse DAG run fails at its first task,
`validate_raw`, naming each reconciliation that broke, and publishes
nothing.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import govkpi_env, marts_fingerprint, run_dag, run_govkpi

from govkpi.orchestrate import WAREHOUSE_DAG

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture(scope="module")
def published(published_db: str, state_dir: Path) -> dict[str, str]:
    return govkpi_env(published_db, state_dir)


def rerun_warehouse(env: dict[str, str]) -> str:
    """Run the warehouse DAG; it must fail at validate_raw, before dbt builds anything. Returns its log."""
    result = run_dag(env, WAREHOUSE_DAG)
    assert result.state == "failed" and result.failed_tasks == ["validate_raw"], (result.failed_tasks, result.errors)
    assert any("GateFailed" in line for line in result.errors), result.errors
    return "\n".join(result.errors)


def test_lost_and_doubled_raw_rows_fail_manifest_vs_raw_naming_each_extract(published, published_db):
    """One row deleted from one raw table and one doubled in another: one run fails, naming both."""
    env = published
    before = marts_fingerprint(published_db)
    with psycopg.connect(published_db, autocommit=True) as conn:
        deleted = conn.execute(
            "delete from raw.health_medical_aid where ctid = (select min(ctid) from raw.health_medical_aid) returning 1"
        ).fetchall()
        assert len(deleted) == 1
        doubled = conn.execute(
            "insert into raw.enf_case select * from raw.enf_case where ctid = (select max(ctid) from raw.enf_case)"
        ).rowcount
        assert doubled == 1
    out = rerun_warehouse(env)
    assert "manifest vs raw: health_medical_aid" in out, out
    assert "manifest vs raw: enf_case" in out, out
    assert marts_fingerprint(published_db) == before
    published_total = run_govkpi(["kpi", "--kpi", "health_medical_aid_yuan", "--year", "2023"], env)
    assert published_total.returncode == 0 and "690879.03" in published_total.stdout
