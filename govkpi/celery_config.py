"""Celery settings for govkpi's Airflow workers: Airflow's own, plus a preload.

Set `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=govkpi.celery_config.CELERY_CONFIG`
(docker-compose.yml and the native stack of tests/support/stack/ do). The
settings are exactly Airflow's `DEFAULT_CELERY_CONFIG`; what this module adds
is a hook on Celery's `worker_init` signal that imports the DAGs' heavy modules
(`dag_support`, Great Expectations for the gate) once, in the worker's main
process, before it forks its pool.

Why: Airflow 3 runs each task in a process forked from the worker, and that
process parses the task's DAG file and imports what the task needs; Great
Expectations alone is 3 to 5 s of CPU per gate task. Forked processes
inherit the imported modules, so only the DAG itself is rebuilt per task
(and each DAG file is built once at start, which loads what the DAG files
import). A failed preload is logged and changes nothing else: each task
then imports what it needs, as without this module.
"""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)

# Imported by every warehouse DAG task; dag_support lives in the DAGs folder.
PRELOADED_MODULES = (
    "dag_support",
    "dag_support.dbt",
    "dag_support.ingest",
    # The gate tasks: importing Great Expectations takes 3 to 5 s.
    "great_expectations",
    "expectations.gate",
)


def preload() -> list[str]:
    """Import PRELOADED_MODULES; returns the ones that failed (logged, not raised)."""
    import importlib

    from airflow.configuration import conf

    dags_folder = conf.get("core", "dags_folder")
    if dags_folder and dags_folder not in sys.path:
        sys.path.append(dags_folder)
    failed = []
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - the task reports it when it imports the module itself
            failed.append(name)
            log.warning("govkpi: could not preload %s in the Celery worker (%s); tasks import it themselves", name, error)
    # Build each DAG once: what the DAG files import is then loaded too. The
    # DAG objects are thrown away; tasks parse the files again, so a changed
    # DAG file is still what runs.
    for path in sorted(Path(dags_folder).glob("govkpi_*.py")) if dags_folder else []:
        try:
            runpy.run_path(str(path), run_name=f"govkpi_preload_{path.stem}")
        except Exception as error:  # noqa: BLE001 - the task's own parse reports it
            failed.append(str(path))
            log.warning("govkpi: could not build %s in the Celery worker (%s)", path.name, error)
    return failed


@worker_init.connect
def _preload_on_worker_start(**_: object) -> None:
    failed = preload()
    log.info("govkpi: preloaded %s in the Celery worker", [m for m in PRELOADED_MODULES if m not in failed])
