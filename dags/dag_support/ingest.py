"""The ingest DAG every department gets: find its new files, load them as one batch.

Each `dags/govkpi_ingest_<department>.py` calls `build_ingest_dag` with its
own documentation; the loading itself is generic (`ingestion/`), driven by
the department's extract specs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, dag, task

from dag_support import DEFAULT_ARGS, RAW_ASSETS, fail_fast


def build_ingest_dag(department: str, doc_md: str) -> DAG:
    @dag(
        dag_id=f"govkpi_ingest_{department}",
        doc_md=doc_md,
        schedule=CronDataIntervalTimetable("0 6 * * *", timezone="Asia/Shanghai"),
        start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["govkpi", "ingest", department],
    )
    def ingest():
        @task
        def find_extracts() -> list[str]:
            """List the department's files in the landing folder (paths only, no contents)."""
            from govkpi.settings import load_settings
            from ingestion.loader import discover
            from ingestion.specs import department as department_spec

            with fail_fast():
                settings = load_settings()
                return [str(f.path) for f in discover(settings.landing_dir, department_spec(department))]

        @task(outlets=[RAW_ASSETS[department]])
        def load_extracts(paths: list[str], **context) -> dict:
            """Load the new files as one batch; return counts (never row contents) for the run's record."""
            from govkpi.pipeline import load_department

            with fail_fast():
                outcome = load_department(department, paths, dag_id=context["dag"].dag_id, run_id=context["run_id"])
            return {
                "batch_id": outcome.batch_id,
                "status": outcome.status,
                "rows_loaded": outcome.rows_loaded,
                "rows_rejected": outcome.rows_rejected,
                "files": [f.file_name for f in outcome.files],
            }

        load_extracts(find_extracts())

    return ingest()
