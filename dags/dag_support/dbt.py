"""The warehouse DAG's `build_audit` task: one dbt process builds, tests and documents the candidate.

See docs/adr/0014. The task runs `govkpi.transform.dbt_build`: one
`dbt build` of seeds, models, data tests and unit tests into `marts_audit`,
then dbt's docs from the same parsed manifest, in one subprocess. Then it
reports what dbt did, whatever the outcome:

- the invocation id and every data test's and unit test's verdict go to
  XCom (ids, statuses and counts; never rows) for the gate and `publish`;
- one OpenLineage START and COMPLETE/FAIL event per dbt node, children of
  this task's run (docs/adr/0011);
- when dbt reported failures, the task fails without retries, its message
  naming each failing node with the model it is defined on, and what dbt
  skipped because of it. dbt itself skips everything downstream of a
  failure, and the gate and `publish` do not run.

While dbt runs (a subprocess), the task process imports Great
Expectations for the gate that follows: under `airflow dags test` the
gate runs in this same process, and the import is 3 to 5 s of CPU that
would otherwise sit on the critical path.

Importing this module is cheap (no dbt, no Great Expectations): DAG files
import it at parse time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govkpi.settings import Settings

log = logging.getLogger(__name__)

PROFILE_NAME, TARGET_NAME = "govkpi", "default"
INVOCATION_XCOM_KEY = "dbt_invocation_id"
# Every data test's and unit test's verdict, for the validation run (expectations.gate).
TESTS_XCOM_KEY = "dbt_test_outcomes"


def build_candidate(settings: Settings, task_instance: Any) -> str:
    """Run the build (see the module docstring); returns the folder holding this build's dbt docs."""
    from govkpi import pipeline
    from govkpi.transform import dbt_connection_env

    connection = dbt_connection_env(settings.require_warehouse_url())
    mask_warehouse_password(settings.require_warehouse_url())
    target = settings.state_dir / "dbt" / "target"
    gate_import = threading.Thread(target=_import_gate, name="govkpi-import-gate", daemon=True)
    gate_import.start()
    try:
        # A DbtFailed names each failing node and its model (govkpi.transform.failure_lines).
        result = pipeline.build_audit(settings, docs=True)
    finally:
        gate_import.join()
        results = _read_json(target / "run_results.json")
        if results is not None:
            _report(task_instance, settings.dbt_project_dir, target, results, connection)
    from govkpi.publication_docs import stage_build_docs

    return str(stage_build_docs(settings.state_dir, target, result.invocation_id))


def mask_warehouse_password(warehouse_url: str) -> None:
    """Mask the warehouse password in this task's log (dbt gets it from the environment, and never prints it)."""
    from airflow.sdk.log import mask_secret

    from govkpi.settings import load_settings
    from govkpi.warehouse import libpq_parts

    password = libpq_parts(warehouse_url)["password"]
    if password:
        mask_secret(password)


def _report(
    task_instance: Any, project_dir: Path, target: Path, results: dict[str, Any], connection: dict[str, str]
) -> None:
    """Invocation id and test verdicts to XCom, dbt node events to OpenLineage."""
    from govkpi.openlineage import emit_dbt_events
    from govkpi.transform import dbt_test_outcomes

    invocation_id = results.get("metadata", {}).get("invocation_id", "")
    if invocation_id:
        task_instance.xcom_push(key=INVOCATION_XCOM_KEY, value=invocation_id)
    manifest = _read_json(target / "manifest.json") or {}
    task_instance.xcom_push(key=TESTS_XCOM_KEY, value=dbt_test_outcomes(results, manifest))
    # The processor renders the profile for the datasets' namespace (host,
    # port, database): those variables only, never the password.
    with _environment({k: v for k, v in connection.items() if k != "GOVKPI_DBT_PASSWORD"}):
        emit_dbt_events(project_dir, task_instance, profile_name=PROFILE_NAME, target=TARGET_NAME, target_path=target)
    log.info("dbt invocation %s: %d nodes", invocation_id, len(results.get("results", [])))


def _import_gate() -> None:
    """Import the gate's modules (Great Expectations) while dbt runs in its own process."""
    try:
        import expectations.gate  # noqa: F401
    except Exception:  # noqa: BLE001 - the gate task imports it again and reports the error there
        log.warning("could not import the gate ahead of it", exc_info=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
