"""
### Build, validate and publish the governance KPI warehouse

Runs when any department's raw Asset is updated, and publishes all
departments together.

0. `validate_raw`: the manifest is reconciled with the raw tables (a row lost
   or doubled behind the loader's back fails here, named as such).
1. `build_audit`: one `dbt build` of seeds, models, data tests and unit
   tests into the write-audit-publish candidate schema `marts_audit`, as a
   bare `dbt build` would, and dbt's docs of it from the same process
   (docs/adr/0014). A failing test fails this task, naming the test, the
   model it is defined on and what dbt skipped because of it; each dbt node
   has its own OpenLineage events, children of this task.
2. `validate_audit`: the Great Expectations gate (`expectations/`) checks the
   candidate: reconciliation of row counts against the load manifest, the KPI
   contract, ranges and null rates. Results go to `audit.validation_result`,
   with the verdict of every dbt test of the build.
3. `publish`: only if both passed, `marts_audit` becomes `marts` in one
   transaction, with the BI grants and a row in `audit.publication` (with
   the dbt invocation id of the build).
4. `document`: the publication's documentation, kept beside it in
   `<state>/publications/<id>/`: the build's dbt docs (Chinese and English
   descriptions), the GX Data Docs of the validation run, the log row.

A failure at any step up to `publish` leaves the previous publication in `marts` untouched;
the failed task's log names the check that failed.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import AssetAny, dag, task

from dag_support import DEFAULT_ARGS, PUBLISHED_MARTS, RAW_ASSETS, WAREHOUSE_POOL, warehouse_deadline
from dag_support.dbt import INVOCATION_XCOM_KEY, TESTS_XCOM_KEY
from govkpi.settings import load_settings


@dag(
    dag_id="govkpi_warehouse",
    doc_md=__doc__,
    # Any department's new data triggers a build (a plain list would wait for all of them).
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    # An alert when a run is not done GOVKPI_WAREHOUSE_DEADLINE_MINUTES after being queued.
    deadline=warehouse_deadline(load_settings().warehouse_deadline_minutes),
    tags=["govkpi", "warehouse"],
)
def govkpi_warehouse():
    @task(pool=WAREHOUSE_POOL)
    def validate_raw(**context) -> int:
        """Manifest vs raw, before anything is built from raw."""
        from govkpi.pipeline import validate_raw as validate

        return validate(load_settings(), run_label=context["run_id"])

    @task(pool=WAREHOUSE_POOL)
    def build_audit(**context) -> str:
        """One dbt build (and its docs) into marts_audit; returns where the docs wait for `document`."""
        from dag_support.dbt import build_candidate

        return build_candidate(load_settings(), context["ti"])

    @task(pool=WAREHOUSE_POOL)
    def validate_audit(**context) -> int:
        """The GX gate on marts_audit, with the build's dbt test verdicts; returns the passing validation run's id."""
        from govkpi.pipeline import validate_audit as validate

        dbt_results = context["ti"].xcom_pull(task_ids="build_audit", key=TESTS_XCOM_KEY) or []
        return validate(load_settings(), run_label=context["run_id"], dbt_results=dbt_results)

    @task(pool=WAREHOUSE_POOL, outlets=[PUBLISHED_MARTS])
    def publish(validation_run_id: int, **context) -> int:
        """Swap marts_audit in as marts, atomically, and log the publication."""
        from govkpi.pipeline import publish as do_publish

        invocation = context["ti"].xcom_pull(task_ids="build_audit", key=INVOCATION_XCOM_KEY)
        return do_publish(
            load_settings(),
            validation_run_id=validation_run_id,
            dbt_invocation_id=invocation,
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
        ).publication_id

    @task(pool=WAREHOUSE_POOL)
    def document(publication_id: int, dbt_docs: str) -> str:
        """The build's dbt docs and the GX Data Docs of this publication, kept beside it (<state>/publications/<id>/)."""
        from govkpi.publication_docs import document_publication

        settings = load_settings()
        return str(document_publication(settings, settings.require_warehouse_url(), publication_id, Path(dbt_docs)))

    raw_checked = validate_raw()
    built = build_audit()
    validated = validate_audit()
    raw_checked >> built >> validated
    document(publish(validated), built)


govkpi_warehouse()
