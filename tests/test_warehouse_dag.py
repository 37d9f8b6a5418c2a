"""The warehouse DAG renders the dbt project as Airflow tasks, and a failing dbt test stops publication there.

- Structure (no database): one task, or task group `<model>` with `run` and
  `test`, per seed and model of dbt's manifest, named after it, wired as dbt
  wires them; one `dbt build` producer between validate_raw and them.
- The manifest is built ahead: `ensure_manifest` builds it when missing or
  stale, and without it the DAG fails to import naming the command.
- Nothing secret is rendered: the warehouse password never reaches the
  serialized DAG; dbt gets it at run time (`connection_env`), masked.
- A real run (PostgreSQL, Airflow): the sample data is published, then a raw
  row is changed so that a relationships test of fct_job_placement fails.
  The next warehouse run fails at that model's `test` task and nowhere else
  (not at the test's other parent), nothing downstream runs, publish does
  not run, and the published marts stay exactly as they were.

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

ROOT = Path(__file__).resolve().parent.parent
DAG_FILE = ROOT / "dags" / "govkpi_warehouse.py"
GROUP = "build_audit"
PRODUCER = f"{GROUP}.dbt_producer_watcher"
WAREHOUSE_POOL = "govkpi_warehouse"


def airflow_child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
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
import json, time
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
start = time.monotonic()
bag = DagBag(dag_folder=DAG_FILE)
seconds = time.monotonic() - start
dag = bag.dags["govkpi_warehouse"]
print("RESULT" + json.dumps({
    "errors": {k: v[-600:] for k, v in bag.import_errors.items()},
    "seconds": seconds,
    "serialized": json.dumps(DagSerialization.to_dict(dag)),
    "tasks": {
        t.task_id: {
            "upstream": sorted(t.upstream_task_ids),
            "downstream": sorted(t.downstream_task_ids),
            "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
            "operator": type(t).__name__,
            "pool": t.pool,
            "retries": t.retries,
            "retry_policy": type(t.retry_policy).__name__ if t.retry_policy else None,
        }
        for t in dag.tasks
    },
}))
"""


@pytest.fixture(scope="module")
def manifest() -> dict:
    path = ensure_manifest(load_settings())
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def warehouse_dag(manifest, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("warehouse-dag")
    # A password in the URL at parse time must not end up in the serialized DAG.
    env = airflow_child_env(tmp, GOVKPI_WAREHOUSE_URL="postgresql://govkpi:parse-time-s3cret@db.example:5432/wh")
    bag = run_probe(f"DAG_FILE = {str(DAG_FILE)!r}\n" + WAREHOUSE_PROBE, env)
    assert bag["errors"] == {}
    return bag


def dbt_nodes(manifest: dict) -> dict[str, dict]:
    """Seeds and models by name (the project has no snapshots)."""
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}


def node_tasks(tasks: dict, name: str, resource_type: str) -> tuple[str, str]:
    """(first, last) task of a node: `<name>.run` / `<name>.test` in its group, or `<name>_run` alone."""
    verb = "run" if resource_type == "model" else "seed"
    grouped = f"{GROUP}.{name}.{verb}"
    if grouped in tasks:
        return grouped, f"{GROUP}.{name}.test"
    return f"{GROUP}.{name}_{verb}", f"{GROUP}.{name}_{verb}"


def test_one_task_or_group_per_seed_and_model_named_after_it(warehouse_dag, manifest):
    tasks = warehouse_dag["tasks"]
    nodes = dbt_nodes(manifest)
    assert len(nodes) > 40
    rendered = {
        re.sub(r"(\.(run|seed|test)|_(run|seed))$", "", t[len(GROUP) + 1:])
        for t in tasks
        if t.startswith(GROUP + ".") and t not in (PRODUCER, f"{PRODUCER}_done", f"{GROUP}.dbt_results")
    }
    assert rendered == set(nodes)
    # Nodes any data test reads (a relationships test reads two).
    tested = {
        manifest["nodes"][parent]["name"]
        for test in manifest["nodes"].values()
        if test["resource_type"] == "test"
        for parent in test["depends_on"]["nodes"]
        if parent in manifest["nodes"]
    }
    for name, node in nodes.items():
        first, last = node_tasks(tasks, name, node["resource_type"])
        assert first in tasks, first
        expected_type = "DbtRunWatcherOperator" if node["resource_type"] == "model" else "DbtSeedWatcherOperator"
        assert tasks[first]["operator"] == expected_type
        # A node with data tests has a `test` task that reports them.
        assert (last != first) == (name in tested), name
        if last != first:
            assert tasks[last]["operator"] == "DbtTestWatcherOperator"
            assert first in tasks[last]["upstream"]


def test_dependencies_are_dbts(warehouse_dag, manifest):
    tasks = warehouse_dag["tasks"]
    nodes = dbt_nodes(manifest)
    by_id = {n["unique_id"]: n for n in nodes.values()}
    for name, node in nodes.items():
        first, _ = node_tasks(tasks, name, node["resource_type"])
        parents = [by_id[p] for p in node["depends_on"].get("nodes", []) if p in by_id]
        expected = {node_tasks(tasks, p["name"], p["resource_type"])[1] for p in parents}
        if not parents:
            # A root of the project waits for the one dbt build, and still runs
            # when that build ended skipped (dbt reported failures).
            expected = {PRODUCER}
            assert tasks[first]["trigger_rule"] == "none_failed"
        assert set(tasks[first]["upstream"]) == expected, name


def test_dbt_build_sits_between_the_raw_check_and_the_gate(warehouse_dag):
    tasks = warehouse_dag["tasks"]
    non_dbt = [t for t in tasks if not t.startswith(GROUP + ".")]
    assert non_dbt == ["validate_raw", "validate_audit", "publish", "document"]
    assert tasks[PRODUCER]["upstream"] == ["validate_raw"]
    assert tasks["validate_raw"]["downstream"] == [PRODUCER], "nothing of dbt starts before the raw check"
    leaves = {t for t, spec in tasks.items() if t.startswith(GROUP + ".") and spec["downstream"] == ["validate_audit"]}
    assert set(tasks["validate_audit"]["upstream"]) == leaves
    assert all(spec["downstream"] for spec in tasks.values() if spec is not tasks["document"]), "no dangling task"
    assert f"{GROUP}.fct_kpi_value.test" in leaves and f"{GROUP}.dbt_results" in leaves
    assert tasks["publish"]["upstream"] == ["validate_audit"]
    # The publication's documentation is written after it, never before: a
    # documentation failure cannot hold back a publication that passed.
    assert tasks["document"]["upstream"] == ["publish"]
    # Retries with backoff everywhere; dbt's own verdicts are not retried
    # (DbtRetryPolicy); warehouse writers share the pool.
    for task_id, spec in tasks.items():
        assert spec["retries"] >= 2, task_id
        if task_id.startswith(GROUP + ".") and spec["operator"].startswith("Dbt"):
            assert spec["retry_policy"] == "DbtRetryPolicy", task_id
    for task_id in ("validate_raw", PRODUCER, "validate_audit", "publish", "document"):
        assert tasks[task_id]["pool"] == WAREHOUSE_POOL, task_id


def test_no_secret_in_the_serialized_dag_and_parsing_stays_fast(warehouse_dag):
    assert "parse-time-s3cret" not in warehouse_dag["serialized"]
    assert "GOVKPI_DBT_PASSWORD" not in warehouse_dag["serialized"]
    # DagBag of the warehouse DAG file alone: cosmos reads the manifest, no dbt runs.
    assert warehouse_dag["seconds"] < 5


RUNTIME_PROBE = r"""
import json
from types import SimpleNamespace
from airflow.exceptions import AirflowException
from airflow.sdk._shared.secrets_masker import redact
import dag_support.dbt as dbt

operator = SimpleNamespace(env={"KEEP": "1"})
dbt.connection_env({}, operator)
policy = dbt.DbtRetryPolicy()
decisions = {
    message: policy.evaluate(AirflowException(message), 1, 3).action.value
    for message in (
        "Tests for model 'model.govkpi.dim_area' finished with status 'fail'",
        "Model 'model.govkpi.dim_area' finished with status 'error'",
        "dbt command failed. The command returned a non-zero exit code 1.",
        "dbt command failed. The command returned a non-zero exit code 2.",
        "could not connect to server",
    )
}
print("RESULT" + json.dumps({"env": operator.env, "masked": redact("pw=run-time-s3cret"), "decisions": decisions}))
"""


def test_connection_env_at_run_time_and_retry_policy(manifest, tmp_path):
    env = airflow_child_env(tmp_path, GOVKPI_WAREHOUSE_URL="postgresql://loader:run-time-s3cret@wh.example:6543/govkpi")
    out = run_probe(RUNTIME_PROBE, env)
    assert out["env"] == {
        "KEEP": "1",
        "GOVKPI_DBT_HOST": "wh.example",
        "GOVKPI_DBT_PORT": "6543",
        "GOVKPI_DBT_USER": "loader",
        "GOVKPI_DBT_PASSWORD": "run-time-s3cret",
        "GOVKPI_DBT_DBNAME": "govkpi",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    assert "run-time-s3cret" not in out["masked"], "the password is masked in task logs"
    assert out["decisions"] == {
        "Tests for model 'model.govkpi.dim_area' finished with status 'fail'": "fail",
        "Model 'model.govkpi.dim_area' finished with status 'error'": "fail",
        "dbt command failed. The command returned a non-zero exit code 1.": "fail",
        "dbt command failed. The command returned a non-zero exit code 2.": "default",
        "could not connect to server": "default",
    }


MISSING_MANIFEST_PROBE = r"""
import json
import govkpi.transform as transform
transform.manifest_problem = lambda project_dir: f"the dbt manifest {project_dir}/target/manifest.json does not exist"
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAG_FILE)
print("RESULT" + json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dags)}))
"""


def test_without_a_manifest_the_dag_fails_to_import_naming_the_command(tmp_path):
    out = run_probe(f"DAG_FILE = {str(DAG_FILE)!r}\n" + MISSING_MANIFEST_PROBE, airflow_child_env(tmp_path))
    assert out["dags"] == []
    [error] = out["errors"].values()
    assert "ManifestUnavailable: the dbt manifest" in error and "does not exist" in error
    assert f"`{MANIFEST_COMMAND}`" in error


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

    model = dbt_dir / "models" / "marts" / "kpi" / "fct_kpi_value.sql"
    # Edited after the parse started (the manifest is dated when its parse started).
    edited = path.stat().st_mtime + 1
    assert edited < time.time()
    os.utime(model, (edited, edited))
    assert manifest_problem(dbt_dir) == f"the dbt manifest {path} is older than models/marts/kpi/fct_kpi_value.sql"
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
def test_failing_model_test_stops_publication_at_that_models_task(published, published_db, state_dir):
    """A relationships test fails: only the model it is defined on shows red, and nothing downstream runs.

    One placement's class is changed in raw to a class that does not exist.
    Row counts are unchanged, so the raw check passes and dbt runs; the
    relationships test from fct_job_placement to dim_training_class then
    fails. It has two parents; it is defined on fct_job_placement, and only
    that model's `test` task fails (not dim_training_class's).
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
    assert result.failed_tasks == [f"{GROUP}.fct_job_placement.test"], result.errors
    assert any("DbtFailed" in line for line in result.errors), result.errors
    assert any("relationships_fct_job_placement_training_class_key" in line for line in result.errors), result.errors
    states = task_states(state_dir, result.run_id)
    assert states["validate_raw"][0] == "success"
    # dbt ran to the end and reported the failure: the build task is skipped,
    # the model itself built, its test task failed once (no retries).
    assert states[PRODUCER][0] == "skipped"
    assert states[f"{GROUP}.fct_job_placement.run"][0] == "success"
    assert states[f"{GROUP}.fct_job_placement.test"] == ("failed", 1)
    # The test's other parent is not blamed.
    assert states[f"{GROUP}.dim_training_class.test"][0] == "success"
    assert states[f"{GROUP}.dbt_results"][0] == "success", "every failure shows at its model's task"
    # Everything downstream of it does not run: models, the gate, publish.
    for task_id in (f"{GROUP}.int_kpi_measure_events_unioned.run", f"{GROUP}.fct_kpi_value.run", "validate_audit", "publish", "document"):
        assert states[task_id][0] == "upstream_failed", task_id
    # Other branches of the project are unaffected.
    assert states[f"{GROUP}.dim_ward.test"][0] == "success"
    assert marts_fingerprint(published_db) == before
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from audit.publication").fetchone()[0] == publications
