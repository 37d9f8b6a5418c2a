"""The ingest DAG every department gets: wait for the month's delivery, load it as one batch.

Each `dags/govkpi_ingest_<department>.py` calls `build_ingest_dag` with its
own documentation; the loading itself is generic (`ingestion/`), driven by
the department's extract specs.

Runs on monthly data intervals (`[1st of the month, 1st of the next)`,
Asia/Shanghai). A run loads exactly its interval's deliveries, from
`<GOVKPI_LANDING_DIR>/<department>/<YYYY-MM>/`, once the department's
`_DELIVERED` marker is there. Re-running an interval loads nothing twice:
bytes already loaded are recognised, and a different file for the same
extract and month supersedes the old one (a correction).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, Param, dag, task

from dag_support import DEFAULT_ARGS, RAW_ASSETS, WAREHOUSE_POOL

# Midnight on the 1st, in the township's time zone: each run's data interval
# is one calendar month there.
MONTHLY = CronDataIntervalTimetable("0 0 1 * *", timezone="Asia/Shanghai")


class WaitForDelivery(BaseOperator):
    """Return the periods this run loads, waiting (deferred, no worker held) for their delivery.

    scope "interval" (scheduled runs, backfills): the months of the run's
    data interval; each must have its `_DELIVERED` marker. A missing one is
    waited for in the triggerer until GOVKPI_DELIVERY_DEADLINE_HOURS after
    the interval's end (120 h by default), then the task fails naming the
    department, the period and the expected path. A backfill of a month
    long past therefore fails at once if the month was never delivered.

    scope "all" (a one-shot catch-up, `govkpi run`): every period of the
    department whose delivery is complete; folders without a marker are
    listed in the log and left for a later run.
    """

    ui_color = "#e8f4ea"

    def __init__(self, *, department: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.department = department

    def execute(self, context: Any) -> list[str]:
        import datetime as dt

        from airflow.sdk.exceptions import AirflowFailException

        from govkpi import delivery
        from govkpi.settings import load_settings
        from govkpi.triggers import DeliveryMarkerTrigger

        settings = load_settings()
        landing = settings.landing_dir
        if context["params"].get("scope", "interval") == "all":
            for folder in delivery.incomplete_folders(landing, self.department):
                self.log.warning("%s", delivery.incomplete_message(folder))
            periods = delivery.delivered_periods(landing, self.department)
            if not periods:
                raise AirflowFailException(delivery.no_delivery_message(landing, self.department))
            self.log.info("scope all: loading periods %s", ", ".join(periods))
            return periods

        periods = delivery.periods_for_interval(context["data_interval_start"], context["data_interval_end"])
        if not periods:
            raise AirflowFailException(
                f"data interval {context['data_interval_start']} .. {context['data_interval_end']} covers no whole month"
            )
        markers = [str(delivery.marker(landing, self.department, p)) for p in periods]
        missing = [p for p, m in zip(periods, markers) if not delivery.is_delivered(landing, self.department, p)]
        if not missing:
            self.log.info("delivery of %s for %s is complete", self.department, ", ".join(periods))
            return periods
        deadline = delivery.delivery_deadline(context["data_interval_end"], settings.delivery_deadline_hours)
        missing_markers = [m for p, m in zip(periods, markers) if p in missing]
        if dt.datetime.now(dt.timezone.utc) >= deadline:
            raise AirflowFailException(self._overdue(missing_markers, periods, markers, deadline))
        self.log.info("waiting for %s until %s", ", ".join(missing_markers), deadline.isoformat())
        self.defer(
            trigger=DeliveryMarkerTrigger(
                markers=markers, deadline=deadline.isoformat(), poll_seconds=settings.delivery_poll_seconds
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[str]:
        """Resume after the trigger fired: everything needed is in the event and the data interval."""
        import datetime as dt

        from airflow.sdk.exceptions import AirflowFailException

        from govkpi.delivery import periods_for_interval

        periods = periods_for_interval(context["data_interval_start"], context["data_interval_end"])
        if event.get("status") == "delivered":
            self.log.info("delivery of %s for %s is complete", self.department, ", ".join(periods))
            return periods
        markers = event["markers"]
        raise AirflowFailException(
            self._overdue(event.get("missing", markers), periods, markers, dt.datetime.fromisoformat(event["deadline"]))
        )

    def _overdue(self, missing: list[str], periods: list[str], markers: list[str], deadline: Any) -> str:
        from pathlib import Path

        from govkpi.delivery import missing_delivery_message

        lines = [
            missing_delivery_message(self.department, period, str(Path(marker).parent), deadline)
            for period, marker in zip(periods, markers)
            if marker in missing
        ]
        return "\n".join(lines)


def build_ingest_dag(department: str, doc_md: str) -> DAG:
    @dag(
        dag_id=f"govkpi_ingest_{department}",
        doc_md=doc_md,
        schedule=MONTHLY,
        start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
        # History is loaded on purpose, with `airflow backfill create`, not
        # by the scheduler catching up on its own after a deployment.
        catchup=False,
        # Months load in order, one at a time (a backfill keeps that order too).
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params={
            "scope": Param(
                "interval",
                type="string",
                enum=["interval", "all"],
                description="interval: the months of this run's data interval; all: every complete delivery in the landing folder (one-shot catch-up)",
            )
        },
        tags=["govkpi", "ingest", department],
    )
    def ingest():
        periods = WaitForDelivery(task_id="wait_for_delivery", department=department)

        @task(outlets=[RAW_ASSETS[department]], pool=WAREHOUSE_POOL)
        def load_extracts(periods: list[str], **context) -> dict:
            """Load the periods' new files as one batch; return counts (never row contents) for the run's record."""
            from govkpi.pipeline import load_department
            from govkpi.settings import load_settings

            outcome = load_department(load_settings(), department, periods=periods, dag_id=context["dag"].dag_id, run_id=context["run_id"])
            return {
                "batch_id": outcome.batch_id,
                "status": outcome.status,
                "periods": periods,
                "rows_loaded": outcome.rows_loaded,
                "rows_rejected": outcome.rows_rejected,
                "files": [f.file_name for f in outcome.files],
            }

        load_extracts(periods.output)

    return ingest()
