"""Alerts: what a failed task or a missed deadline leaves for people and for monitoring.

Two outputs, so both a person and an external alerting system find it:

- one JSON line per alert appended to `<alert dir>/alerts.jsonl`
  (`GOVKPI_ALERT_DIR`, default `<GOVKPI_STATE_DIR>/alerts`), each with a
  `summary` sentence saying what failed and where to look;
- one log line starting with `GOVKPI_ALERT ` followed by the same JSON, at
  ERROR level, in the task's (or the triggerer's) log: a log shipper can
  match that prefix.

Alerts carry identifiers and error messages, never row contents: govkpi's
own errors name a file, row and column, not the values in them, and
resident ID numbers never reach a message in clear.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("govkpi.alerts")

ALERT_PREFIX = "GOVKPI_ALERT "
_MESSAGE_LIMIT = 2000


def _alert_dir() -> Path | None:
    """`Settings.alert_dir`, read by the callbacks below: Airflow calls them, so they are entry points."""
    from govkpi.settings import load_settings

    try:
        return load_settings().alert_dir
    except ValueError as exc:  # a malformed setting must not hide the alert: the log line still carries it
        log.error("cannot read the settings for the alert folder: %s", exc)
        return None


def write_alert(folder: Path | None, kind: str, summary: str, **fields: Any) -> dict[str, Any]:
    """Record one alert in `folder`/alerts.jsonl and as a log line; never raises, an alert must not fail its caller."""
    alert = {
        "kind": kind,
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "summary": summary,
        **{k: (str(v) if v is not None and not isinstance(v, (int, float, bool, list, dict)) else v) for k, v in fields.items()},
    }
    line = json.dumps(alert, ensure_ascii=False, sort_keys=False)
    log.error("%s%s", ALERT_PREFIX, line)
    if folder is None:
        return alert
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "alerts.jsonl").open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError as exc:  # the log line above still carries the alert
        log.error("could not write the alert file in %s: %s", folder, exc)
    return alert


def read_alerts(folder: Path) -> list[dict[str, Any]]:
    path = folder / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _ti_fields(context: dict[str, Any]) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    interval_start = context.get("data_interval_start")
    interval_end = context.get("data_interval_end")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "data_interval": f"{interval_start} .. {interval_end}" if interval_start else None,
    }


def task_failed(context: dict[str, Any]) -> None:
    """`on_failure_callback` of every govkpi task: the task failed for good (no retry left)."""
    fields = _ti_fields(context)
    exception = context.get("exception")
    error = f"{type(exception).__name__}: {exception}" if exception is not None else "unknown error"
    if len(error) > _MESSAGE_LIMIT:
        error = error[:_MESSAGE_LIMIT] + " ..."
    summary = (
        f"task {fields['task_id']} of {fields['dag_id']} failed ({fields['run_id']}); "
        f"{error.splitlines()[0] if error else ''}"
    )
    write_alert(_alert_dir(), "task_failed", summary, error=error, **fields)


async def deadline_missed(**kwargs: Any) -> None:
    """Deadline alert callback (runs in the triggerer): a DAG run did not finish in time."""
    context = kwargs.pop("context", {}) or {}
    dag_run = context.get("dag_run") if isinstance(context, dict) else None
    dag_id = kwargs.get("dag_id") or (dag_run.get("dag_id") if isinstance(dag_run, dict) else getattr(dag_run, "dag_id", None))
    # The scheduler hands the run over as the REST API's DAGRunResponse, dumped to JSON.
    if isinstance(dag_run, dict):
        run_id = dag_run.get("dag_run_id") or dag_run.get("run_id")
    else:
        run_id = getattr(dag_run, "run_id", None)
    deadline = context.get("deadline") if isinstance(context, dict) else None
    limit = kwargs.get("limit", "its deadline")
    write_alert(
        _alert_dir(),
        "deadline_missed",
        f"{dag_id} run {run_id} has not finished within {limit} of being queued; "
        "look at the run in the Airflow UI (a task waiting for a delivery, or stuck on a busy warehouse)",
        dag_id=dag_id,
        run_id=run_id,
        deadline_time=(deadline or {}).get("deadline_time"),
    )
