"""The warehouse DAG builds the dbt project in one task, and a failing dbt test stops publication there.

- Structure (no database): validate_raw, then one `build_audit` task (one
  dbt build and its docs), then the gate, publish and document; retries
  with backoff everywhere, one pool for warehouse writers.
- Parsing runs no dbt and needs no dbt artifacts: the DAG imports without
  a manifest. `ensure_manifest` (for `govkpi lineage`) still builds the
  manifest when missing or stale.
- Nothing secret is rendered: the warehouse password never reaches the
  serialized DAG; dbt gets it at run time from the environment, and the
  build task masks it in its log. dbt's own verdicts fail at once, a dbt
  that could not run is retried.
- A real run (PostgreSQL, Airflow): the sample data is published, then a raw
  row is changed so that a relationships test of fct_job_placement fails.
  The next warehouse run fails at `build_audit`, naming that test and the
  model it is defined on (not the test's other parent); dbt skips what is
  downstream of it, the gate and publish do not run, and the published
  marts stay exactly as they were.

Airflow is imported only in child processes with their own AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from conftest import govkpi_env, marts_fingerprint, run_dag

from govkpi.settings import Settings, load_settings
from govkpi.transform import MANIFEST_COMMAND, ManifestUnavailable, ensure_manifest, manifest_problem, require_manifest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "govkpi_warehouse.py"
BUILD = "build_audit"
WAREHOUSE_POOL = "govkpi_warehouse"


def airflow_child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "dags")]),
        }
    )
    env.update(extra)
    return env


def run_probe(code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(line[len("RESULT"):])


WAREHOUSE_PROBE = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
start = time.monotonic()
bag = DagBag(dag_folder=DAG_FILE)
seconds = time.monotonic() - start
dag = bag.dags["govkpi_warehouse"]
print("RESULT" + json.dumps({
    "errors": {k: v[-600:] for k, v in bag.import_errors.items()},
    "seconds": seconds,
    "heavy_imports": sorted(m for m in ("dbt", "great_expectations", "cosmos") if m in sys.modules),
    "serialized": json.dumps(DagSerialization.to_dict(dag)),
    "tasks": {
        t.task_id: {
            "upstream": sorted(t.upstream_task_ids),
            "downstream": sorted(t.downstream_task_ids),
            "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
            "operator": type(t).__name__,
            "pool": t.pool,
            "retries": t.retries,
        }
        for t in dag.tasks
    },
}))
"""


@pytest.fixture(scope="module")
def warehouse_dag(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("warehouse-dag")
    # A password in the URL at parse time must not end up in the serialized DAG.
    env = airflow_child_env(tmp, GOVKPI_WAREHOUSE_URL="postgresql://govkpi:parse-time-s3cret@db.example:5432/wh")
    bag = run_probe(f"DAG_FILE = {str(DAG_FILE)!r}\n" + WAREHOUSE_PROBE, env)
    assert bag["errors"] == {}
    return bag


def test_the_dbt_build_is_one_task_between_the_raw_check_and_the_gate(warehouse_dag):
    tasks = warehouse_dag["tasks"]
    assert list(tasks) == ["validate_raw", BUILD, "validate_audit", "publish", "document"]
    assert tasks[BUILD]["upstream"] == ["validate_raw"]
    assert tasks["validate_raw"]["downstream"] == [BUILD], "nothing of dbt starts before the raw check"
    assert tasks["validate_audit"]["upstream"] == [BUILD]
    assert tasks["publish"]["upstream"] == ["validate_audit"]
    # The publication's documentation is written after it, never before: a
    # documentation failure cannot hold back a publication that passed. It
    # documents the build's own dbt docs (the folder build_audit returns).
    assert tasks["document"]["upstream"] == sorted([BUILD, "publish"])
    assert all(spec["downstream"] for task_id, spec in tasks.items() if task_id != "document"), "no dangling task"
    # Retries with backoff everywhere (dbt's own verdicts fail at once:
    # test_dbt_verdicts_fail_at_once_and_a_dbt_that_could_not_run_is_retried);
    # warehouse writers share the pool.
    for task_id, spec in tasks.items():
        assert spec["retries"] >= 2, task_id
        assert spec["pool"] == WAREHOUSE_POOL, task_id
        assert spec["trigger_rule"] == "all_success", task_id


def test_no_secret_in_the_serialized_dag_and_parsing_stays_fast(warehouse_dag):
    assert "parse-time-s3cret" not in warehouse_dag["serialized"]
    assert "GOVKPI_DBT_PASSWORD" not in warehouse_dag["serialized"]
    # Parsing imports neither dbt nor Great Expectations: they load when a task runs.
    assert warehouse_dag["heavy_imports"] == []
    assert warehouse_dag["seconds"] < 5


RUNTIME_PROBE = r"""
import json
from airflow.sdk import RetryAction
from airflow.sdk._shared.secrets_masker import redact
from airflow.dag_processing.dagbag import DagBag
from dag_support.dbt import mask_warehouse_password
from govkpi.settings import load_settings
from govkpi.transform import DbtCrashed, DbtFailed, dbt_connection_env

mask_warehouse_password(load_settings().require_warehouse_url())
# The retry policy the build task really has, as Airflow's task runner consults it on a failure.
policy = DagBag(dag_folder=DAG_FILE).dags["govkpi_warehouse"].get_task("build_audit").retry_policy
outcomes = {}
for error in (DbtFailed(["test.govkpi.x: fail - Got 1 result"]), DbtCrashed("dbt build exited 2: could not connect to server")):
    decision = policy.evaluate(exception=error, try_number=1, max_tries=3)
    if decision.action is RetryAction.FAIL:
        outcomes[type(error).__name__] = f"fail at once: {type(error).__name__}: " + str(error).splitlines()[0]
    elif decision.action is RetryAction.RETRY:
        outcomes[type(error).__name__] = "retried: " + type(error).__name__
print("RESULT" + json.dumps({
    "env": dbt_connection_env("postgresql://loader:run-time-s3cret@wh.example:6543/govkpi"),
    "masked": redact("pw=run-time-s3cret"),
    "outcomes": outcomes,
}))
"""


def test_dbt_verdicts_fail_at_once_and_a_dbt_that_could_not_run_is_retried(tmp_path):
    env = airflow_child_env(tmp_path, GOVKPI_WAREHOUSE_URL="postgresql://loader:run-time-s3cret@wh.example:6543/govkpi")
    out = run_probe(f"DAG_FILE = {str(DAG_FILE)!r}\n" + RUNTIME_PROBE, env)
    # The variables dbt's profile reads, computed at run time from GOVKPI_WAREHOUSE_URL.
    assert out["env"] == {
        "GOVKPI_DBT_HOST": "wh.example",
        "GOVKPI_DBT_PORT": "6543",
        "GOVKPI_DBT_USER": "loader",
        "GOVKPI_DBT_PASSWORD": "run-time-s3cret",
        "GOVKPI_DBT_DBNAME": "govkpi",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    assert "run-time-s3cret" not in out["masked"], "the password is masked in task logs"
    assert out["outcomes"] == {
        "DbtFailed": "fail at once: DbtFailed: dbt build failed:",
        "DbtCrashed": "retried: DbtCrashed",
    }


NO_MANIFEST_PROBE = r"""
import json
import govkpi.transform as transform
transform.manifest_problem = lambda project_dir: f"the dbt manifest {project_dir}/target/manifest.json does not exist"
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAG_FILE)
print("RESULT" + json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dags)}))
"""


def test_the_dag_imports_without_dbt_artifacts(tmp_path):
    """No manifest, no dbt run at parse time: a fresh checkout or a read-only image parses the DAG as it is."""
    out = run_probe(f"DAG_FILE = {str(DAG_FILE)!r}\n" + NO_MANIFEST_PROBE, airflow_child_env(tmp_path))
    assert out == {"errors": {}, "dags": ["govkpi_warehouse"]}


def test_ensure_manifest_builds_when_missing_or_stale(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "dbt_project", project / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    settings = Settings(
        project_root=project, state_dir=tmp_path / "state", landing_dir=tmp_path / "landing",
        warehouse_url=None, _pseudonym_key=None,
    )
    dbt_dir = settings.dbt_project_dir
    assert "does not exist" in manifest_problem(dbt_dir)
    with pytest.raises(ManifestUnavailable, match=re.escape(MANIFEST_COMMAND)):
        require_manifest(dbt_dir)

    path = ensure_manifest(settings)
    assert path == dbt_dir / "target" / "manifest.json"
    assert manifest_problem(dbt_dir) is None
    assert json.loads(path.read_text())["metadata"]["project_name"] == "govkpi"
    assert [p.name for p in path.parent.iterdir()] == ["manifest.json"], "dbt parse leaves nothing else behind"
    built = path.stat().st_mtime_ns
    assert ensure_manifest(settings) == path and path.stat().st_mtime_ns == built, "a current manifest is kept"

    model = dbt_dir / "models" / "kpi" / "fct_kpi_value.sql"
    # Edited after the parse started (the manifest is dated when its parse started).
    edited = path.stat().st_mtime + 1
    assert edited < time.time()
    os.utime(model, (edited, edited))
    assert manifest_problem(dbt_dir) == f"the dbt manifest {path} is older than models/kpi/fct_kpi_value.sql"
    ensure_manifest(settings)
    assert manifest_problem(dbt_dir) is None


# ---------------------------------------------------------------------------
# A real run: a failing dbt test stops publication at its model's task
# ---------------------------------------------------------------------------


def task_states(state_dir: Path, run_id: str) -> dict[str, tuple[str | None, int]]:
    with sqlite3.connect(state_dir / "airflow" / "airflow.db") as meta:
        return {
            task_id: (state, try_number)
            for task_id, state, try_number in meta.execute(
                "select task_id, state, try_number from task_instance where dag_id = 'govkpi_warehouse' and run_id = ?",
                (run_id,),
            ).fetchall()
        }


@pytest.fixture(scope="module")
def published(published_db: str, state_dir: Path):
    """The sample extracts, run through both DAGs and published, as a user runs them."""
    return govkpi_env(published_db, state_dir)


@pytest.mark.integration
@pytest.mark.airflow
def test_publication_records_the_dbt_build_invocation(published, published_db, sample_publication):
    with psycopg.connect(published_db) as conn:
        [invocation] = conn.execute(
            "select dbt_invocation_id from audit.publication order by publication_id desc limit 1"
        ).fetchone()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", invocation), invocation
    # The build's run_results.json is kept in the state folder, not in the
    # source tree (read from there right after the run).
    results = sample_publication.run_results
    assert results["metadata"]["invocation_id"] == invocation
    assert any(r["unique_id"].startswith("unit_test.") for r in results["results"]), "unit tests run in the build"


@pytest.mark.integration
@pytest.mark.airflow
def test_failing_model_test_stops_publication_at_the_build_naming_its_model(published, published_db, state_dir):
    """A relationships test fails: the build task fails naming the test and its model, and nothing downstream runs.

    One placement's class is changed in raw to a class that does not exist.
    Row counts are unchanged, so the raw check passes and dbt runs; the
    relationships test from fct_job_placement to dim_training_class then
    fails. It has two parents; it is defined on fct_job_placement, and the
    failure names that model, not dim_training_class.
    """
    from govkpi import orchestrate

    before = marts_fingerprint(published_db)
    assert before and before["fct_kpi_value"].split(":")[0] != "0"
    with psycopg.connect(published_db, autocommit=True) as conn:
        publications = conn.execute("select count(*) from audit.publication").fetchone()[0]
        changed = conn.execute(
            "update raw.hrss_placement set class_id = 'XX-2024-99' "
            "where (_file_id, _row_number) = (select _file_id, _row_number from raw.hrss_placement "
            "order by _file_id, _row_number limit 1)"
        ).rowcount
        assert changed == 1

    result = run_dag(published, orchestrate.WAREHOUSE_DAG)

    assert result.state == "failed"
    assert result.failed_tasks == [BUILD], result.errors
    assert any("DbtFailed" in line for line in result.errors), result.errors
    # One line per failing node in the DbtFailed message (the alert line repeats the message as JSON).
    [failing] = [
        line for line in result.errors
        if line.strip().startswith("- test.") and "relationships_fct_job_placement_training_class_key" in line
    ]
    assert "(on fct_job_placement): fail" in failing, failing
    # The test's other parent is not blamed: no failure names it.
    assert not [line for line in result.errors if "(on dim_training_class)" in line], result.errors
    assert any(line.strip().startswith("- not built because of these failures") and "fct_kpi_value" in line for line in result.errors), result.errors
    states = task_states(state_dir, result.run_id)
    assert states["validate_raw"][0] == "success"
    # dbt's verdict: the build task failed once, no retries.
    assert states[BUILD] == ("failed", 1)
    # What dbt did, node by node (the build's run_results.json in the state folder).
    results = json.loads((state_dir / "dbt" / "target" / "run_results.json").read_text())
    status = {r["unique_id"].split(".")[-1] if not r["unique_id"].startswith("test.") else r["unique_id"].split(".")[2]: r["status"]
              for r in results["results"]}
    assert status["fct_job_placement"] == "success", "the model itself built"
    [relationship] = [k for k in status if k.startswith("relationships_fct_job_placement_training_class_key")]
    assert status[relationship] == "fail"
    dim_training_class_tests = [
        r["status"] for r in results["results"]
        if r["unique_id"].startswith("test.") and r["unique_id"].split(".")[2].endswith("_dim_training_class_training_class_key")
    ]
    assert dim_training_class_tests and set(dim_training_class_tests) == {"pass"}, dim_training_class_tests
    # Everything downstream of it does not run: models, the gate, publish.
    assert status["kpi_measure_events"] == "skipped"
    assert status["fct_kpi_value"] == "skipped"
    for task_id in ("validate_audit", "publish", "document"):
        assert states[task_id][0] == "upstream_failed", task_id
    # Other branches of the project are unaffected.
    assert status["dim_ward"] == "success"
    assert marts_fingerprint(published_db) == before
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from audit.publication").fetchone()[0] == publications
