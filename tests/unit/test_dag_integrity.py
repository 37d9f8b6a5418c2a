"""The DAG files parse cleanly, quickly, and follow the project's DAG conventions.

Airflow is loaded in a child process with its own AIRFLOW_HOME, so this test
never touches a user's ~/airflow, and the parse time measured is the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, time
from airflow.dag_processing.dagbag import DagBag
start = time.monotonic()
bag = DagBag(dag_folder=DAGS)
elapsed = time.monotonic() - start
def schedule_assets(dag):
    condition = getattr(dag.timetable, "asset_condition", None)
    if condition is None:
        return []
    return [type(condition).__name__] + sorted(a.name for a in condition.objects)
out = {"errors": {k: v[-400:] for k, v in bag.import_errors.items()}, "seconds": elapsed, "dags": {}}
for dag in bag.dags.values():
    out["dags"][dag.dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags),
        "doc_md": bool(dag.doc_md),
        "owner": dag.owner,
        "max_active_runs": dag.max_active_runs,
        "timetable": type(dag.timetable).__name__,
        "schedule_assets": schedule_assets(dag),
        "start_date_tz": str(dag.start_date.tzinfo) if dag.start_date else None,
        "timetable_summary": f"{getattr(dag.timetable, 'expression', '')} {getattr(dag.timetable, 'timezone', '')}".strip(),
        "params": {k: dag.params[k] for k in dag.params},
        "deadline": [
            {"reference": type(d.reference).__name__, "minutes": d.interval.total_seconds() / 60, "callback": d.callback.path}
            for d in (dag.deadline if isinstance(dag.deadline, list) else [dag.deadline] if dag.deadline else [])
        ],
        "tasks": {t.task_id: {
            "retries": t.retries,
            "outlets": [getattr(o, "name", str(o)) for o in t.outlets],
            "pool": t.pool,
            "exponential_backoff": bool(t.retry_exponential_backoff),
            "failure_callbacks": [getattr(c, "__qualname__", str(c)) for c in (t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback] if t.on_failure_callback else [])],
            "operator": type(t).__name__,
        } for t in dag.tasks},
    }
print("RESULT" + json.dumps(out))
"""


def load_dagbag(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.pop("GOVKPI_WAREHOUSE_DEADLINE_MINUTES", None)  # the default deadline
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "dags")]),
        }
    )
    code = f"DAGS = {str(ROOT / 'dags')!r}\n" + PROBE
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(line[len("RESULT"):])


def test_dags_parse_and_follow_conventions(tmp_path):
    bag = load_dagbag(tmp_path)
    assert bag["errors"] == {}
    dags = bag["dags"]
    departments = ("hrss", "health", "enforcement")
    assert set(dags) == {f"govkpi_ingest_{d}" for d in departments} | {"govkpi_warehouse"}
    for dag_id, dag in dags.items():
        assert Path(dag["fileloc"]).stem == dag_id, "one DAG per file, named after its dag_id"
        assert dag["doc_md"] and dag["tags"] and dag["owner"] == "govkpi"
        assert dag["max_active_runs"] == 1
        assert dag["start_date_tz"] not in (None, "None")
    for department in departments:
        ingest = dags[f"govkpi_ingest_{department}"]
        # monthly data intervals in the township's time zone
        assert ingest["timetable"] == "CronDataIntervalTimetable"
        assert ingest["timetable_summary"] == "0 0 1 * * Asia/Shanghai"
        assert ingest["params"] == {"scope": "interval"}
        assert list(ingest["tasks"]) == ["wait_for_delivery", "load_extracts"]
        assert ingest["tasks"]["wait_for_delivery"]["operator"] == "WaitForDelivery"
        load = ingest["tasks"]["load_extracts"]
        assert load["outlets"] == [f"govkpi_raw_{department}"]
        assert load["retries"] >= 2 and load["exponential_backoff"]
        assert load["pool"] == "govkpi_warehouse", "warehouse writers share one pool"
        for task in ingest["tasks"].values():
            assert task["failure_callbacks"] == ["task_failed"], "every task alerts when it fails for good"
    warehouse = dags["govkpi_warehouse"]
    assert warehouse["timetable"] == "AssetTriggeredTimetable"
    # Any one department's new data triggers it, not only all of them together.
    assert warehouse["schedule_assets"] == ["AssetAny"] + sorted(f"govkpi_raw_{d}" for d in departments)
    # The dbt project is one task, build_audit: one dbt build (tests/e2e/test_warehouse_dag.py).
    tasks = warehouse["tasks"]
    assert list(tasks) == ["validate_raw", "build_audit", "validate_audit", "publish", "document"]
    for name in tasks:
        assert tasks[name]["pool"] == "govkpi_warehouse", "warehouse writers share one pool"
        assert tasks[name]["retries"] >= 2 and tasks[name]["exponential_backoff"]
    assert tasks["publish"]["outlets"] == ["govkpi_marts"]
    # An Airflow deadline alert: 2 hours after a run was queued, govkpi's alert callback.
    assert warehouse["deadline"] == [
        {"reference": "DagRunQueuedAtDeadline", "minutes": 120.0, "callback": "govkpi.alerts.deadline_missed"}
    ]
    assert all(dag["deadline"] == [] for dag_id, dag in dags.items() if dag_id != "govkpi_warehouse")
    # Parsing must stay cheap: no database or heavy imports at module level.
    assert bag["seconds"] < 10
