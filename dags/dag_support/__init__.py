"""What the govkpi DAGs share: the Assets they hand data through, and task defaults.

Kept light: importing it must stay cheap, because every DAG file imports it
at parse time.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, ExceptionRetryPolicy, RetryAction, RetryRule
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from govkpi.alerts import deadline_missed, task_failed
from govkpi.errors import GovkpiError, TransientError
from govkpi.settings import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, WAREHOUSE_POOL_SLOTS  # noqa: F401
from ingestion.specs import DEPARTMENTS

# One Asset per department: "new extracts of this department are in raw".
# The warehouse DAG is scheduled on them instead of sensing ingest tasks.
RAW_ASSETS: dict[str, Asset] = {
    code: Asset(name=f"govkpi_raw_{code}", uri=f"govkpi://warehouse/raw/{code}", group="govkpi")
    for code in DEPARTMENTS
}

# The published KPI marts, updated by each successful publication.
PUBLISHED_MARTS = Asset(name="govkpi_marts", uri="govkpi://warehouse/marts", group="govkpi")

# WAREHOUSE_POOL (from govkpi.settings): every task that writes to the
# warehouse runs in it, so at most its slot count write at once.

# Retries are for what can pass on a second try (a dropped connection, a
# busy server); govkpi's own errors (a refused file, a failed check, a dbt
# test's verdict) fail at once: a retry cannot change them. First match wins.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception=TransientError, action=RetryAction.RETRY, reason="may pass on a retry"),
        RetryRule(exception=GovkpiError, action=RetryAction.FAIL, reason="bad input or a failed check: a retry cannot fix it"),
    ]
)

DEFAULT_ARGS = {
    "owner": "govkpi",
    "retry_policy": RETRY_POLICY,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    # A task that fails for good leaves an alert (govkpi.alerts).
    "on_failure_callback": task_failed,
}

# The warehouse DAG must finish within GOVKPI_WAREHOUSE_DEADLINE_MINUTES
# (default 120) of being queued; a run that does not (a stuck task, a
# warehouse that never answers) raises an Airflow deadline alert, which the
# triggerer hands to govkpi.alerts.deadline_missed. 0 turns it off: the
# local runner (`govkpi run`, `airflow dags test`) does, see
# govkpi.orchestrate.airflow_env.
def warehouse_deadline(minutes: float) -> DeadlineAlert | None:
    """The deadline alert for `Settings.warehouse_deadline_minutes` (None when 0)."""
    if not minutes:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(
            deadline_missed, kwargs={"dag_id": "govkpi_warehouse", "limit": f"{minutes:g} minutes"}
        ),
    )
