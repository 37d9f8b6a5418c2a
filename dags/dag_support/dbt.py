"""The dbt project as Airflow tasks (astronomer-cosmos, watcher mode): see docs/adr/0007.

One `dbt build` (the producer task) builds seeds, models, data tests and
unit tests into `marts_audit`, as a bare `dbt build` would; every seed and
model also gets its own task (a task group `<model>` with `run` and `test`
when it has data tests) that reports what dbt did to it. A failing test
fails its model's `test` task, and everything downstream of it (other
models, the GX gate, publish) does not run.

The graph comes from `dbt_project/target/manifest.json`, built ahead by
`python -m govkpi.transform` (`govkpi run` and the image build do it), so
parsing this DAG runs no dbt. Importing this module fails, naming that
command, if the manifest is missing or older than the project.

Nothing secret is rendered into the DAG: the connection variables the
profile reads are computed from GOVKPI_WAREHOUSE_URL when a task runs
(`connection_env`), and the password is masked in logs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# Before anything imports cosmos' settings: no usage telemetry from machines
# without a route to the internet (orchestrate and the image set it too).
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

import airflow  # noqa: E402,F401  (cosmos.constants imports airflow first, or the import is circular)
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy  # noqa: E402
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig  # noqa: E402
from cosmos.constants import (  # noqa: E402
    PRODUCER_WATCHER_DONE_TASK_ID,
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
)

from govkpi.settings import PROJECT_ROOT  # noqa: E402
from govkpi.transform import manifest_path, require_manifest  # noqa: E402

log = logging.getLogger(__name__)
# Cosmos feeds dbt's artifacts to OpenLineage's processor, which logs a page of
# SQL for every singular test without a model; that is noise in task logs.
logging.getLogger("openlineage.common.provider.dbt").setLevel(logging.ERROR)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST = manifest_path(DBT_PROJECT_DIR)
PROFILE_NAME, TARGET_NAME = "govkpi", "default"
INVOCATION_XCOM_KEY = "dbt_invocation_id"
FAILURES_XCOM_KEY = "dbt_failures"
# Every data test's and unit test's verdict, for the validation run (expectations.gate).
TESTS_XCOM_KEY = "dbt_test_outcomes"
# The group's task that fails for dbt failures no model's task shows.
RESULTS_TASK = "dbt_results"

# Fails the import of the warehouse DAG, naming the command that builds it.
require_manifest(DBT_PROJECT_DIR)


def connection_env(context: Any, operator: Any) -> None:
    """Cosmos interceptor, run in the worker just before dbt: the profile's connection variables.

    Computed from GOVKPI_WAREHOUSE_URL at run time, never at parse time, so
    the password is in neither the serialized DAG nor XCom; it is masked in
    the task log and in the rendered fields.
    """
    from airflow.sdk.log import mask_secret

    from govkpi.settings import load_settings
    from govkpi.transform import dbt_connection_env

    env = dbt_connection_env(load_settings().require_warehouse_url())
    if env["GOVKPI_DBT_PASSWORD"]:
        mask_secret(env["GOVKPI_DBT_PASSWORD"])
    operator.env = {**(operator.env or {}), **env}


def record_invocation(project_dir: str, context: Any = None, **_: Any) -> None:
    """Cosmos callback after each dbt command: keep run_results.json, push the invocation id, name failures, emit lineage.

    run_results.json is copied to `<GOVKPI_STATE_DIR>/dbt/target/` (cosmos
    runs dbt in a temporary copy of the project). Failed nodes are logged as
    a `DbtFailed` message, the line `govkpi run` shows.
    """
    from govkpi.settings import load_settings
    from govkpi.transform import DbtFailed

    results_file = Path(project_dir) / "target" / "run_results.json"
    if not results_file.exists():
        return
    results = json.loads(results_file.read_text())
    target = load_settings().state_dir / "dbt" / "target"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results_file, target / "run_results.json")
    invocation_id = results.get("metadata", {}).get("invocation_id", "")
    if invocation_id and context is not None:
        context["ti"].xcom_push(key=INVOCATION_XCOM_KEY, value=invocation_id)
    if context is not None:
        from govkpi.openlineage import emit_dbt_events
        from govkpi.transform import dbt_test_outcomes

        # A START and COMPLETE/FAIL event per dbt node, children of this task's run (docs/adr/0011).
        emit_dbt_events(project_dir, context["ti"], profile_name=PROFILE_NAME, target=TARGET_NAME)

        tests = dbt_test_outcomes(results, json.loads(MANIFEST.read_text()))
        context["ti"].xcom_push(key=TESTS_XCOM_KEY, value=tests)
    failed = [r for r in results.get("results", []) if r.get("status") in ("error", "fail", "runtime error")]
    if failed:
        # Ids and statuses only in XCom; dbt's messages stay in the log.
        if context is not None:
            context["ti"].xcom_push(key=FAILURES_XCOM_KEY, value=[[r["unique_id"], r["status"]] for r in failed])
        messages = [f"{r['unique_id']}: {r['status']} - {(r.get('message') or '').strip()}" for r in failed]
        log.error("%s: %s", DbtFailed.__name__, DbtFailed(messages))
    log.info("dbt invocation %s: %s nodes", invocation_id, len(results.get("results", [])))


class DbtRetryPolicy(RetryPolicy):
    """No retries for what dbt itself reported (a failing test, a failing model); retries otherwise.

    Re-running the same SQL on the same data fails the same way (as
    govkpi's own errors, which fail_fast ends at once); a lost connection
    or a busy server can pass on a second try, with DEFAULT_ARGS' backoff.
    """

    # How cosmos words dbt's own verdicts: a node's status read by a per-node
    # task, and a dbt command that ran to the end with failures (exit code 1).
    _DBT_VERDICTS = (
        "finished with status",
        "failed. Review the producer task",
        "dbt invocation completed with errors",
        "returned a non-zero exit code 1.",
    )

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        from ingestion.errors import GovkpiError

        if isinstance(exception, GovkpiError):
            return RetryDecision.fail(f"{type(exception).__name__}: retrying cannot fix it")
        message = str(exception)
        if any(verdict in message for verdict in self._DBT_VERDICTS):
            return RetryDecision.fail("dbt reported this failure; the same build on the same data fails again")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": type(self).__name__}


def dbt_task_group(group_id: str, *, pool: str) -> DbtTaskGroup:
    """The dbt project as a task group of the current DAG: one dbt build, one task (group) per node.

    Consumers are put downstream of the producer: they run once the build
    has finished and each reads its node's result at its first look (no
    polling, no triggerer), which also holds under `airflow dags test`,
    where tasks run one after another. When dbt reports failures (exit code
    1) the producer ends skipped, so the per-node tasks still run and the
    failure shows at the failing model; any other producer failure stops
    the group.
    """
    dbt = str(Path(sys.executable).with_name("dbt"))
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=MANIFEST,
            project_name="govkpi",
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name=PROFILE_NAME,
            target_name=TARGET_NAME,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            # A subprocess, as govkpi.transform: dbt's logging and globals stay
            # out of the task process; it starts once per build.
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt,
            setup_operator_args={
                # dbt exits 1 when it ran to the end with failing nodes: the
                # per-node tasks report those, the producer is then skipped.
                "skip_exit_code": 1,
                "pool": pool,
            },
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
        ),
        operator_args={
            "interceptors": [connection_env],
            "callback": record_invocation,
            "retry_policy": DbtRetryPolicy(),
            "install_deps": False,
        },
    )
    producer = group.tasks_map[PRODUCER_WATCHER_TASK_ID]
    for node_id, task_or_group in group.tasks_map.items():
        if node_id in (PRODUCER_WATCHER_TASK_ID, PRODUCER_WATCHER_DONE_TASK_ID):
            continue
        tasks = list(task_or_group.children.values()) if hasattr(task_or_group, "children") else [task_or_group]
        for task in tasks:
            if not task.upstream_task_ids:
                producer >> task
                # Run after the producer ended successfully or skipped (dbt
                # reported failures), not after it failed or never ran.
                task.trigger_rule = "none_failed"
    manifest = json.loads(MANIFEST.read_text())
    producer.tests_per_model = _tests_where_defined(producer.tests_per_model, manifest)
    _tests_wait_for_all_parents(group, producer.tests_per_model, manifest)
    owned = _owned_nodes(group, producer.tests_per_model, manifest)
    with group:
        producer >> _results_task(producer.task_id, owned)
    return group


def _tests_where_defined(tests_per_model: dict[str, list[str]], manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Each model's tests, without the relationships tests defined on another model.

    Cosmos counts a test with two parents (a relationships test) for both;
    when dbt skips it because the model it is defined on failed, the other
    parent's `test` task would fail too. The manifest's `attached_node`
    says where a test is defined: its result shows there only.
    """
    attached = {
        unique_id: node.get("attached_node")
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "test"
    }
    pruned = {}
    for model, tests in tests_per_model.items():
        own = [t for t in tests if attached.get(t) in (model, None)]
        pruned[model] = own or tests
    return pruned


def _tests_wait_for_all_parents(
    group: DbtTaskGroup, tests_per_model: dict[str, list[str]], manifest: dict[str, Any]
) -> None:
    """A model's `test` task also waits for the other models its tests read (relationships).

    dbt skips a test whose other parent failed; in Airflow that test's task
    is then "upstream failed", not failed, so only the model where the
    failure happened shows red.
    """
    nodes = manifest.get("nodes", {})
    for model, tests in tests_per_model.items():
        model_group = group.tasks_map.get(model)
        if not hasattr(model_group, "children"):
            continue
        [test_task] = [t for t in model_group.children.values() if t.task_id.endswith(".test")]
        below = test_task.get_flat_relative_ids(upstream=False)
        for test in tests:
            for parent in nodes.get(test, {}).get("depends_on", {}).get("nodes", []):
                other = group.tasks_map.get(parent)
                if parent == model or other is None:
                    continue
                other_tasks = other.children.values() if hasattr(other, "children") else [other]
                if any(t.task_id in below for t in other_tasks):
                    continue  # a test on a model referencing one of its own descendants: no cycle
                other >> test_task


def _owned_nodes(group: DbtTaskGroup, tests_per_model: dict[str, list[str]], manifest: dict[str, Any]) -> frozenset[str]:
    """dbt nodes whose failure fails a per-node task: rendered seeds and models, their tests and unit tests."""
    rendered = {n for n in group.tasks_map if n not in (PRODUCER_WATCHER_TASK_ID, PRODUCER_WATCHER_DONE_TASK_ID)}
    names = {n.split(".")[-1] for n in rendered}
    tests = {t for model in rendered for t in tests_per_model.get(model, [])}
    unit_tests = {
        unique_id
        for unique_id in manifest.get("unit_tests", {})
        if unique_id.split(".")[2] in names
    }
    return frozenset(rendered | tests | unit_tests)


def _results_task(producer_task_id: str, owned: frozenset[str]) -> Any:
    """A task that fails for any failure dbt reported that no per-node task shows.

    Tests with no model to report them (singular tests without a ref, tests
    on sources) would otherwise fail the build without failing a task.
    """
    from airflow.sdk import task

    @task(task_id=RESULTS_TASK, trigger_rule="none_failed")
    def dbt_results(**context: Any) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        failures = context["ti"].xcom_pull(task_ids=producer_task_id, key=FAILURES_XCOM_KEY) or []
        unowned = [f"{unique_id}: {status}" for unique_id, status in failures if unique_id not in owned]
        if unowned:
            raise AirflowFailException(
                "DbtFailed: dbt build failed on nodes without a task of their own "
                "(their messages are in the dbt_producer_watcher log):\n" + "\n".join(f"  - {u}" for u in unowned)
            )
        log.info("%d failure(s) reported by dbt, each shown at its model's task", len(failures))
        return len(failures)

    return dbt_results()


def producer_task_id(group: DbtTaskGroup) -> str:
    """Full task id of the group's `dbt build` task."""
    return group.tasks_map[PRODUCER_WATCHER_TASK_ID].task_id


def dbt_task_ids(group: DbtTaskGroup) -> list[str]:
    """Every task id in the group, the producer first."""
    producer = producer_task_id(group)
    return [producer] + sorted(t.task_id for t in group.iter_tasks() if t.task_id != producer)
