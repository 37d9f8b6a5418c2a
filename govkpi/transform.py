"""Run dbt against the warehouse: build the marts into the audit schema.

dbt runs as a subprocess of the current interpreter's environment so its
logging and global state never mix with the caller's (an Airflow task, the
CLI). One `dbt build` does seeds, models, data tests and unit tests in
dependency order; a failing test skips what depends on it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from govkpi.settings import Settings
from govkpi.warehouse import libpq_parts
from ingestion.errors import GovkpiError

log = logging.getLogger(__name__)


class DbtFailed(GovkpiError):
    """dbt reported failing models or tests; the audit build is not publishable."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("dbt build failed:\n" + "\n".join(f"  - {f}" for f in failures))


@dataclass(frozen=True)
class DbtResult:
    invocation_id: str
    nodes: int
    target_path: Path


def dbt_env(settings: Settings, warehouse_url: str) -> dict[str, str]:
    """Environment for dbt: the profile reads the connection from these variables."""
    parts = libpq_parts(warehouse_url)
    env = dict(os.environ)
    env.update(
        {
            "GOVKPI_DBT_HOST": parts["host"],
            "GOVKPI_DBT_PORT": parts["port"],
            "GOVKPI_DBT_USER": parts["user"],
            "GOVKPI_DBT_PASSWORD": parts["password"],
            "GOVKPI_DBT_DBNAME": parts["dbname"],
            "DBT_PROFILES_DIR": str(settings.dbt_project_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def run_dbt(settings: Settings, warehouse_url: str, args: list[str], *, target_path: Path | None = None) -> DbtResult:
    """Run one dbt command; raise DbtFailed naming each failed node."""
    target = target_path or settings.state_dir / "dbt" / "target"
    target.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt),
        *args,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(target.parent / "logs"),
    ]
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)  # never read a previous run's results as this one's
    log.info("running %s", " ".join(command[:2]))
    proc = subprocess.run(command, env=dbt_env(settings, warehouse_url), capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        log.info("dbt: %s", line)
    failures: list[str] = []
    invocation_id = ""
    nodes = 0
    if results_file.exists():
        results = json.loads(results_file.read_text())
        invocation_id = results.get("metadata", {}).get("invocation_id", "")
        nodes = len(results.get("results", []))
        for r in results.get("results", []):
            if r.get("status") in ("error", "fail", "runtime error"):
                failures.append(f"{r['unique_id']}: {r.get('status')} - {(r.get('message') or '').strip()}")
    if proc.returncode != 0:
        if not failures:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            failures.append(f"dbt {' '.join(args)} exited {proc.returncode}:\n{tail}")
        raise DbtFailed(failures)
    return DbtResult(invocation_id, nodes, target)


def build_audit(settings: Settings, warehouse_url: str) -> DbtResult:
    """Build seeds, models and tests into the audit schema (`marts_audit`)."""
    return run_dbt(settings, warehouse_url, ["build"])
