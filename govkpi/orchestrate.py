"""Run the DAGs for real with a local Airflow: metadata on SQLite in the state folder.

`govkpi run` uses this: it is Airflow running the same DAG files a
deployment schedules (`airflow dags test` executes one DAG run, task by
task, through Airflow's task runner), not a second code path around it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from govkpi import openlineage
from govkpi.settings import Settings

log = logging.getLogger(__name__)

INGEST_DAGS = {code: f"govkpi_ingest_{code}" for code in ("hrss", "health", "enforcement")}
WAREHOUSE_DAG = "govkpi_warehouse"

# Lines of a failed task's log worth showing the user: our own errors say
# what was wrong, where, and what to do.
_ERROR_MARKERS = ("BatchRefused", "GateFailed", "DbtFailed", "ExtractError", "PublishRefused", "SettingsError")


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    failed_tasks: list[str]
    log_file: Path
    errors: list[str]

    @property
    def ok(self) -> bool:
        return self.state == "success"


def airflow_home(settings: Settings) -> Path:
    return settings.state_dir / "airflow"


def airflow_env(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    """Environment for the local Airflow: SQLite metadata, the project's DAGs, no examples."""
    home = airflow_home(settings)
    env = dict(os.environ)
    env.update(extra)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # No deadline alert on the warehouse DAG here: `airflow dags test`
            # runs no scheduler to check deadlines, and in Airflow 3.3.2 it
            # fails a successful run of a DAG that has one
            # (apache/airflow#73428, fix pending in #73430).
            "GOVKPI_WAREHOUSE_DEADLINE_MINUTES": "0",
            # astronomer-cosmos sends usage telemetry unless told not to, and
            # caches dbt's partial parse in the state folder, not in /tmp.
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(settings.state_dir / "cosmos"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(settings.project_root), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    # OpenLineage events into <state>/openlineage/, unless the user chose a transport.
    env.update(openlineage.airflow_env(settings.state_dir, env))
    return env


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def ensure_metadata_db(settings: Settings, env: dict[str, str]) -> None:
    """Create or upgrade Airflow's SQLite metadata database (skipped when current)."""
    from govkpi.transform import ensure_manifest

    # The warehouse DAG renders its tasks from dbt's manifest: build it (if
    # missing or stale) before Airflow parses the DAGs.
    ensure_manifest(settings)
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / "migrated-for"
    version = importlib.metadata.version("apache-airflow")
    if stamp.exists() and stamp.read_text() == version and (home / "airflow.db").exists():
        return
    log.info("preparing Airflow metadata database in %s", home)
    proc = subprocess.run([_airflow(), "db", "migrate"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    ensure_pool(env)
    stamp.write_text(version)


def ensure_pool(env: dict[str, str]) -> None:
    """The pool every warehouse-writing task runs in (dags/dag_support)."""
    from govkpi.settings import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, WAREHOUSE_POOL_SLOTS

    command = [_airflow(), "pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), WAREHOUSE_POOL_DESCRIPTION]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow pools set failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def dags_test(
    settings: Settings, env: dict[str, str], dag_id: str, conf: dict | None = None, logical_date: dt.datetime | None = None
) -> DagRunResult:
    """Run one DAG run of `dag_id`; return its final state and any failure messages.

    `logical_date` defaults to now. For the monthly ingest DAGs a run at
    the 1st of a month has the previous month as its data interval.
    """
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    log_file = logs / f"{dag_id}-{now:%Y%m%dT%H%M%S%f}.log"
    command = [_airflow(), "dags", "test", dag_id, (logical_date or now).isoformat()]
    if conf:
        command += ["--conf", json.dumps(conf)]
    log.info("airflow dags test %s (log: %s)", dag_id, log_file)
    with log_file.open("w") as out:
        proc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    run_id, state, failed = _last_run(settings, dag_id)
    text = log_file.read_text(errors="replace")
    errors = _error_lines(text)
    if proc.returncode != 0 and state == "success":
        state = "failed"
    if state != "success" and not errors:
        errors = text.splitlines()[-15:]
    return DagRunResult(dag_id, run_id, state, failed, log_file, errors)


def _last_run(settings: Settings, dag_id: str) -> tuple[str, str, list[str]]:
    """The latest run of a DAG and its failed tasks, read from the metadata database."""
    db = airflow_home(settings) / "airflow.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "select run_id, state from dag_run where dag_id = ? order by id desc limit 1", (dag_id,)
        ).fetchone()
        if row is None:
            return "", "not started", []
        failed = [
            r[0]
            for r in conn.execute(
                "select task_id from task_instance where dag_id = ? and run_id = ? and state = 'failed' order by task_id",
                (dag_id, row[0]),
            ).fetchall()
        ]
    return row[0], row[1] or "unknown", failed


def _error_lines(text: str) -> list[str]:
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(marker in line for marker in _ERROR_MARKERS):
            out.append(line.strip())
            # Multi-line messages (a list of failed checks) follow their first line.
            for follow in lines[i + 1 : i + 30]:
                if follow.startswith("  - ") or follow.startswith("    "):
                    out.append(follow.rstrip())
                else:
                    break
    seen: set[str] = set()
    unique = []
    for line in out:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique[:40]
