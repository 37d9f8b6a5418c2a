"""The pipeline's steps as plain functions: what each Airflow task calls.

Each step takes the settings its caller read (once, at its entry point: a
task, a command), connects, does one thing and returns a small,
personal-data-free result (it ends up in XCom). Keeping them here, outside
the DAG files, lets the DAGs stay thin and each step run from the command
line too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from govkpi.errors import GovkpiError
from govkpi.publish import Publication, publish_candidate
from govkpi.settings import Settings
from govkpi.transform import DbtResult
from govkpi.transform import dbt_build
from ingestion.areas import AreaRegister
from ingestion.areas import store as store_register
from ingestion.ddl import ensure_schema
from ingestion.loader import BatchOutcome, discover, load_batch
from ingestion.pii import Pseudonymiser
from ingestion.specs import all_extracts, department

log = logging.getLogger(__name__)


class GateFailed(GovkpiError):
    """The Great Expectations gate failed; the candidate is not published."""


def load_department(
    settings: Settings,
    code: str,
    paths: list[str] | None = None,
    *,
    periods: list[str] | None = None,
    landing: Path | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> BatchOutcome:
    """Load a department's new files: those of `periods` (default: every period folder), or only `paths`.

    Files are found under `landing` (default: the settings' landing folder).
    """
    dept = department(code)
    landing = landing or settings.landing_dir
    found = discover(landing, dept, periods)
    if paths is not None:
        wanted = {str(Path(p)) for p in paths}
        found = [f for f in found if str(f.path) in wanted]
    pseudonymiser = Pseudonymiser(settings.pseudonym_key())
    areas = AreaRegister.from_landing(landing)
    with psycopg.connect(settings.require_warehouse_url(), autocommit=True) as conn:
        outcome = load_batch(conn, dept, found, pseudonymiser, areas=areas, airflow_dag_id=dag_id, airflow_run_id=run_id)
    log.info("%s", outcome.summary())
    return outcome


def build_audit(settings: Settings, *, docs: bool = False) -> DbtResult:
    """dbt build into the audit schema (and, with `docs`, its dbt docs), after making sure every raw table exists.

    A department that has not delivered yet has empty raw tables, so the
    models over them build (empty) instead of failing on a missing source.
    """
    url = settings.require_warehouse_url()
    register = AreaRegister.from_landing(settings.landing_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_schema(conn, all_extracts())
        store_register(conn, register)
    return dbt_build(settings, url, docs=docs)


def validate_raw(settings: Settings, run_label: str = "") -> int:
    """Reconcile the manifest with the raw tables before anything is built from them."""
    return _gate(settings, run_label, raw_only=True)


def validate_audit(settings: Settings, run_label: str = "", dbt_results: list[dict] | None = None) -> int:
    """Run the GX gate on the audit build; return the passing validation run's id.

    `dbt_results`: the build's test outcomes (govkpi.transform.dbt_test_outcomes),
    recorded in the same validation run.
    """
    return _gate(settings, run_label, raw_only=False, dbt_results=dbt_results)


def _gate(settings: Settings, run_label: str, *, raw_only: bool, dbt_results: list[dict] | None = None) -> int:
    from expectations.gate import run_gate

    url = settings.require_warehouse_url()
    if raw_only:
        with psycopg.connect(url, autocommit=True) as conn:
            ensure_schema(conn, all_extracts())
    result = run_gate(
        url, run_label=run_label, results_dir=settings.state_dir / "validations", raw_only=raw_only, dbt_results=dbt_results
    )
    if not result.success:
        lines = [f"{f.suite} / {f.check} on {f.relation}: {f.message}" for f in result.failures]
        raise GateFailed(
            f"validation run {result.validation_run_id} failed {len(result.failures)} of {result.checks_run} checks; "
            "nothing published, the previous publication stays:\n" + "\n".join(f"  - {line}" for line in lines)
        )
    log.info("validation run %s passed %s checks", result.validation_run_id, result.checks_run)
    return result.validation_run_id


def publish(settings: Settings, *, validation_run_id: int, dbt_invocation_id: str | None = None, dag_id: str | None = None, run_id: str | None = None) -> Publication:
    with psycopg.connect(settings.require_warehouse_url(), autocommit=True) as conn:
        return publish_candidate(
            conn,
            validation_run_id=validation_run_id,
            dbt_invocation_id=dbt_invocation_id,
            airflow_dag_id=dag_id,
            airflow_run_id=run_id,
        )


__all__ = ["GateFailed", "build_audit", "load_department", "publish", "validate_audit"]
