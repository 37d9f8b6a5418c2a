"""
### Ingest the HR&SS extracts

Loads the county human resources and social security bureau's training
extracts (class ledger, trainee roster, certificates, job follow-up) from the
landing folder `<GOVKPI_LANDING_DIR>/hrss/<period>/` into the warehouse's
`raw` schema, through the generic spec-driven loader in `ingestion/`.

- New files only: bytes already in `audit.load_manifest` are recognised and skipped.
- One batch per run, all or nothing: a file that must be refused refuses the
  batch, and the failure names the file, row and column.
- Rows that fail validation go to `audit.quarantine`; the rest are loaded.
- On success it updates the `govkpi_raw_hrss` Asset, which schedules the
  warehouse DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from dag_support import DEFAULT_ARGS, RAW_ASSETS, fail_fast

DEPARTMENT = "hrss"


@dag(
    dag_id="govkpi_ingest_hrss",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["govkpi", "ingest", "hrss"],
)
def govkpi_ingest_hrss():
    @task
    def find_extracts() -> list[str]:
        """List the department's files in the landing folder (paths only, no contents)."""
        from govkpi.settings import load_settings
        from ingestion.loader import discover
        from ingestion.specs import department

        with fail_fast():
            settings = load_settings()
            return [str(f.path) for f in discover(settings.landing_dir, department(DEPARTMENT))]

    @task(outlets=[RAW_ASSETS[DEPARTMENT]])
    def load_extracts(paths: list[str], **context) -> dict:
        """Load the new files as one batch; return counts for the run's record."""
        from govkpi.pipeline import load_department

        with fail_fast():
            outcome = load_department(DEPARTMENT, paths, dag_id=context["dag"].dag_id, run_id=context["run_id"])
        return {
            "batch_id": outcome.batch_id,
            "status": outcome.status,
            "rows_loaded": outcome.rows_loaded,
            "rows_rejected": outcome.rows_rejected,
            "files": [f.file_name for f in outcome.files],
        }

    load_extracts(find_extracts())


govkpi_ingest_hrss()
