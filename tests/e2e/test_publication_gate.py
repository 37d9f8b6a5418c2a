"""A failed gate stops publication and leaves the published marts exactly as they were.

Runs the pipeline for real (both DAGs, through Airflow) on a copy of the
sample extracts, then delivers files that load cleanly but break the data
contract, and checks that the next run fails at the right task, says which
check failed, and publishes nothing.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import copy_samples, govkpi_env, marts_fingerprint, run_govkpi
from stdnum.cn import ric


pytestmark = [pytest.mark.integration, pytest.mark.airflow]


_ADULT_BODY = "34012119880808101"
ADULT_ID = _ADULT_BODY + ric.calc_check_digit(_ADULT_BODY + "0")


def adult_id(n: int) -> str:
    body = f"3401211990020{n}20{n}"
    return body + ric.calc_check_digit(body + "0")


def child_id() -> str:
    """A valid ID number of a child born in 2013 (synthetic)."""
    body = "34012120130405201"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
def published(published_db: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    landing = copy_samples(tmp_path_factory.mktemp("landing"))
    env = govkpi_env(published_db, state_dir)
    return landing, env


def test_contract_violation_fails_at_validation_and_keeps_marts(published, published_db):
    landing, env = published
    before = marts_fingerprint(published_db)
    assert before["fct_kpi_value"].split(":")[0] != "0"
    with psycopg.connect(published_db) as conn:
        publications = conn.execute("select count(*) from audit.publication").fetchone()[0]
    # A 2024 roster enrolling a ten-year-old in an electrician class: every
    # cell is valid, so it loads; the age contract in the GX gate must stop it.
    folder = landing / "hrss" / "2024"
    folder.mkdir()
    lines = [
        "序号,姓名,性别,公民身份号码,联系电话,所在村(社区),班级编号,报名日期,是否结业",
        f"1,测试儿童,男,{child_id()},17000000000,杏花村,DG-2023-01,2024/3/1,否",
        f"2,测试成人,男,{ADULT_ID[:-1]}{'1' if ADULT_ID[-1] != '1' else '2'},17000000001,杏花村,DG-2023-01,2024/3/1,否",
    ] + [f"{n},测试成人{n},女,{adult_id(n)},1700000000{n},漫流村,DG-2023-01,2024/3/1,否" for n in range(3, 8)]
    (folder / "培训学员花名册_2024.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    (folder / "_DELIVERED").write_text("test delivery\n")

    proc = run_govkpi(["run", "--extracts", str(landing)], env)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "govkpi_ingest_hrss: success" in out
    # The run reports what it quarantined, where, and why.
    assert "培训学员花名册_2024.csv [2024] loaded: 7 rows read, 6 loaded, 1 rejected" in out
    assert "quarantined: 培训学员花名册_2024.csv, row 3, column '公民身份号码': check digit is wrong" in out
    assert "govkpi_warehouse: FAILED; failed tasks: validate_audit" in out
    assert "GateFailed" in out and "age" in out.lower(), out
    assert "previously published marts, if any, are unchanged" in out
    assert marts_fingerprint(published_db) == before
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from audit.publication").fetchone()[0] == publications
        failed = {
            row[0]
            for row in conn.execute(
                "select r.check_name from audit.validation_result r join audit.validation_run v using (validation_run_id) "
                "where not r.success and v.validation_run_id = (select max(validation_run_id) from audit.validation_run)"
            )
        }
        assert "contract: trainee age at enrolment" in failed, failed
    rows = run_govkpi(["kpi", "--kpi", "hrss_trainees", "--year", "2023"], env)
    assert rows.returncode == 0 and "571" in rows.stdout
