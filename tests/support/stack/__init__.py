"""The distributed deployment, natively: what docker-compose.yml runs, as processes of this venv.

A harness of tests/stack/test_distributed.py and scripts/distributed, not part of
what govkpi ships:

- `supervisor`: `DistributedStack`, which starts the api-server, scheduler,
  dag-processor, triggerer and Celery workers against fresh databases on a
  PostgreSQL server and a Redis broker, waits until they are ready and stops
  them again;
- `api`: `AirflowApi`, the client of Airflow's REST API the stack exposes;
- `pipeline`: the pipeline driven through that API (`run_one_shot`,
  `run_backfill`, `wait_for_publication`, ...) and what it published;
- `__main__`: the command line of scripts/distributed (`up`, `check`).

The names the tests use are re-exported here.
"""

from .api import AirflowApi, ApiError
from .pipeline import (
    DAG_TIMEZONE,
    PipelineFailed,
    PipelineOutcome,
    Publication,
    backfill_runs,
    backfill_year,
    create_backfill,
    dag_date,
    failure_report,
    kpi_differences,
    latest_publication,
    loaded_file_ids,
    published_kpis,
    render_log,
    run_backfill,
    run_one_shot,
    task_hosts,
    task_hosts_by_dag,
    task_log_tail,
    trigger_ingests,
    unpause_all,
    wait_for_backfills,
    wait_for_publication,
    wait_for_runs,
)
from .supervisor import (
    ADMIN_USER,
    ALL_DAGS,
    DEFAULT_PG_ADMIN_URL,
    DEFAULT_REDIS_URL,
    INGEST_DAGS,
    PG_ADMIN_URL_VAR,
    PROJECT_ROOT,
    REDIS_URL_VAR,
    WAREHOUSE_DAG,
    Component,
    DistributedStack,
    StackError,
    StackInfo,
    configured_pg_admin_url,
    configured_redis_url,
    unavailable_services,
    worker_hostname,
)

__all__ = [
    "ADMIN_USER",
    "ALL_DAGS",
    "DAG_TIMEZONE",
    "DEFAULT_PG_ADMIN_URL",
    "DEFAULT_REDIS_URL",
    "INGEST_DAGS",
    "PG_ADMIN_URL_VAR",
    "PROJECT_ROOT",
    "REDIS_URL_VAR",
    "WAREHOUSE_DAG",
    "AirflowApi",
    "ApiError",
    "Component",
    "DistributedStack",
    "PipelineFailed",
    "PipelineOutcome",
    "Publication",
    "StackError",
    "StackInfo",
    "backfill_runs",
    "backfill_year",
    "configured_pg_admin_url",
    "configured_redis_url",
    "create_backfill",
    "dag_date",
    "failure_report",
    "kpi_differences",
    "latest_publication",
    "loaded_file_ids",
    "published_kpis",
    "render_log",
    "run_backfill",
    "run_one_shot",
    "task_hosts",
    "task_hosts_by_dag",
    "task_log_tail",
    "trigger_ingests",
    "unpause_all",
    "wait_for_backfills",
    "wait_for_publication",
    "wait_for_runs",
    "worker_hostname",
]
