"""
### Build, validate and publish the governance KPI warehouse

Runs when any department's raw Asset is updated, and publishes all
departments together.

0. `validate_raw`: the manifest is reconciled with the raw tables (a row lost
   or doubled behind the loader's back fails here, named as such).
1. `build_audit`: `dbt build` (seeds, models, data tests, unit tests) into the
   write-audit-publish candidate schema `marts_audit`.
2. `validate_audit`: the Great Expectations gate (`expectations/`) checks the
   candidate: reconciliation of row counts against the load manifest, the KPI
   contract, ranges and null rates. Results go to `audit.validation_result`.
3. `publish`: only if both passed, `marts_audit` becomes `marts` in one
   transaction, with the BI grants and a row in `audit.publication`.

A failure at any step leaves the previous publication in `marts` untouched;
the failed task's log names the check that failed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetAny, dag, task

from dag_support import DEFAULT_ARGS, PUBLISHED_MARTS, RAW_ASSETS, fail_fast


@dag(
    dag_id="govkpi_warehouse",
    doc_md=__doc__,
    # Any department's new data triggers a build (a plain list would wait for all of them).
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["govkpi", "warehouse"],
)
def govkpi_warehouse():
    @task
    def validate_raw(**context) -> int:
        """Manifest vs raw, before anything is built from raw."""
        from govkpi.pipeline import validate_raw as validate

        with fail_fast():
            return validate(run_label=context["run_id"])

    @task
    def build_audit(raw_validation_run_id: int) -> str:
        """dbt build into marts_audit; a failed model or test fails here, naming it."""
        from govkpi.pipeline import build_audit as build

        with fail_fast():
            return build().invocation_id

    @task
    def validate_audit(dbt_invocation_id: str, **context) -> int:
        """The GX gate on marts_audit; returns the passing validation run's id."""
        from govkpi.pipeline import validate_audit as validate

        with fail_fast():
            return validate(run_label=context["run_id"])

    @task(outlets=[PUBLISHED_MARTS])
    def publish(validation_run_id: int, dbt_invocation_id: str, **context) -> int:
        """Swap marts_audit in as marts, atomically, and log the publication."""
        from govkpi.pipeline import publish as do_publish

        with fail_fast():
            return do_publish(
                validation_run_id=validation_run_id,
                dbt_invocation_id=dbt_invocation_id,
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
            ).publication_id

    invocation = build_audit(validate_raw())
    publish(validate_audit(invocation), invocation)


govkpi_warehouse()
