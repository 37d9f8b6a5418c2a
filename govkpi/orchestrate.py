"""Run the DAGs for real with a local Airflow: metadata on SQLite in the state folder.

`govkpi run` uses this: it is Airflow running the same DAG files a
deployment schedules (`airflow dags test` executes one DAG run, task by
task, through Airflow's task runner), not a second code path around it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from govkpi import openlineage
from govkpi.errors import GovkpiError
from govkpi.settings import Settings
from ingestion.specs import DEPARTMENTS

log = logging.getLogger(__name__)

INGEST_DAGS = {code: f"govkpi_ingest_{code}" for code in DEPARTMENTS}
WAREHOUSE_DAG = "govkpi_warehouse"
# What the warehouse DAG's tasks import that is slow to import (govkpi.celery_config preloads the same).
WAREHOUSE_PRELOAD = ("expectations.gate",)

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
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(settings.project_root), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    # OpenLineage events into <state>/openlineage/, unless the user chose a transport.
    env.update(openlineage.transport_env(settings.state_dir, env))
    return env


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def ensure_metadata_db(settings: Settings, env: dict[str, str]) -> None:
    """Create or upgrade Airflow's SQLite metadata database (skipped when current)."""
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


@dataclass(frozen=True)
class DagRunRequest:
    """One `airflow dags test` run: which DAG, at which logical date (default now), with which conf."""

    dag_id: str
    conf: dict | None = None
    logical_date: dt.datetime | None = None


def run_dags(
    settings: Settings, env: dict[str, str], requests: list[DagRunRequest], *, stop_on_failure: bool = True
) -> Iterator[DagRunResult]:
    """Run the DAG runs one after another in one Airflow process; yield each result as it finishes.

    Each run is Airflow's `airflow dags test` (govkpi.dag_runner), with its
    own log file in `<state>/logs/`. After a failed run the rest are not
    started unless `stop_on_failure` is False. For the monthly ingest DAGs a
    run at the 1st of a month has the previous month as its data interval.
    """
    with _local_runner_lock(settings):
        _fail_abandoned_runs(settings)
        yield from _run_dags(settings, env, requests, stop_on_failure=stop_on_failure)


# Task and run states of work in progress, which a killed runner leaves behind.
_UNFINISHED = ("running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred", "restarting")


@contextlib.contextmanager
def _local_runner_lock(settings: Settings):
    """One local runner per state folder at a time; a second is refused, saying which folder."""
    import fcntl

    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    with (home / "runner.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GovkpiError(
                f"another `govkpi run` is running DAGs with the state folder {settings.state_dir}; "
                "wait for it to finish (or use another GOVKPI_STATE_DIR)"
            ) from None
        yield  # the lock goes with the process, killed or not


def _fail_abandoned_runs(settings: Settings) -> None:
    """Mark failed the runs a killed runner left running: with the lock held, no runner is running them."""
    db = airflow_home(settings) / "airflow.db"
    if not db.exists():
        return
    marks = ",".join("?" * len(_UNFINISHED))
    with sqlite3.connect(db) as conn:
        runs = conn.execute(f"select dag_id, run_id from dag_run where state in ({marks})", _UNFINISHED).fetchall()
        if not runs:
            return
        now = dt.datetime.now(dt.timezone.utc).isoformat(sep=" ")
        for dag_id, run_id in runs:
            conn.execute(
                f"update task_instance set state = 'failed', end_date = coalesce(end_date, ?) "
                f"where dag_id = ? and run_id = ? and state in ({marks})",
                (now, dag_id, run_id, *_UNFINISHED),
            )
            conn.execute("update dag_run set state = 'failed', end_date = ? where dag_id = ? and run_id = ?", (now, dag_id, run_id))
            log.warning("DAG run %s of %s was left running by a runner that ended without finishing; marked failed", run_id, dag_id)


def _run_dags(
    settings: Settings, env: dict[str, str], requests: list[DagRunRequest], *, stop_on_failure: bool
) -> Iterator[DagRunResult]:
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    runs = []
    for i, request in enumerate(requests):
        log_file = logs / f"{request.dag_id}-{now:%Y%m%dT%H%M%S}-{i}.log"
        log_file.unlink(missing_ok=True)
        runs.append(
            {
                "dag_id": request.dag_id,
                "logical_date": (request.logical_date or now).isoformat(),
                "conf": request.conf,
                "log_file": str(log_file),
            }
        )
    # The warehouse DAG's gate tasks import Great Expectations (about 2.5 s
    # of imports); the runner imports it in the background from its start,
    # as a Celery worker preloads it before forking (ADR 0013).
    preload = list(WAREHOUSE_PRELOAD) if any(r.dag_id == WAREHOUSE_DAG for r in requests) else []
    requests_file = logs / f"requests-{now:%Y%m%dT%H%M%S%f}.json"
    requests_file.write_text(json.dumps({"runs": runs, "stop_on_failure": stop_on_failure, "preload": preload}))
    log.info("airflow dags test %s (logs in %s)", ", ".join(r.dag_id for r in requests), logs)
    # What the runner writes outside any run (Airflow's start-up warnings, a crash).
    runner_log = logs / f"dag-runner-{now:%Y%m%dT%H%M%S%f}.log"
    try:
        with runner_log.open("w") as stderr, subprocess.Popen(
            [sys.executable, "-m", "govkpi.dag_runner", str(requests_file)],
            env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        ) as proc:
            done, last_code = 0, 0
            for line in proc.stdout:
                run = runs[done]
                done += 1
                last_code = json.loads(line)["returncode"]
                yield _result(settings, run["dag_id"], Path(run["log_file"]), last_code)
        stopped_as_asked = stop_on_failure and done > 0 and last_code != 0
        if done < len(runs) and not stopped_as_asked:
            # The runner itself failed (it could not import Airflow, say): report it as the run it was on.
            run = runs[done]
            with Path(run["log_file"]).open("a") as out:
                out.write(runner_log.read_text(errors="replace"))
            yield _result(settings, run["dag_id"], Path(run["log_file"]), proc.returncode or 1)
    finally:
        requests_file.unlink(missing_ok=True)
        if runner_log.exists() and not runner_log.read_text(errors="replace").strip():
            runner_log.unlink()


def dags_test(
    settings: Settings, env: dict[str, str], dag_id: str, conf: dict | None = None, logical_date: dt.datetime | None = None
) -> DagRunResult:
    """Run one DAG run of `dag_id` (`airflow dags test`); return its final state and any failure messages."""
    [result] = run_dags(settings, env, [DagRunRequest(dag_id, conf, logical_date)])
    return result


def _result(settings: Settings, dag_id: str, log_file: Path, returncode: int) -> DagRunResult:
    run_id, state, failed = _last_run(settings, dag_id)
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    errors = _error_lines(text)
    if returncode != 0 and state == "success":
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


def task_seconds(settings: Settings, dag_id: str, run_id: str) -> dict[str, float]:
    """Each task's duration in one DAG run, in the order they started (Airflow's metadata)."""
    db = airflow_home(settings) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, duration from task_instance where dag_id = ? and run_id = ? order by start_date",
            (dag_id, run_id),
        ).fetchall()
    return {task_id: float(duration or 0) for task_id, duration in rows}


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
