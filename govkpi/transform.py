"""Run dbt against the warehouse, and keep the project's manifest built ahead.

dbt runs as a subprocess of the current interpreter's environment so its
logging and global state never mix with the caller's (an Airflow task, the
CLI). One `dbt build` does seeds, models, data tests and unit tests in
dependency order; a failing test skips what depends on it.

`dbt_build` is the warehouse build: one dbt process (govkpi.dbt_session)
parses once, runs `dbt build` and writes the build's docs (docs/adr/0014).
`govkpi lineage` reads dbt's graph from `dbt_project/target/manifest.json`:
`ensure_manifest` builds it with `dbt parse` (no database needed) when it
is missing or older than any file of the project; `python -m
govkpi.transform` runs it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govkpi.errors import GovkpiError, TransientError
from govkpi.settings import Settings

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


# The command that builds the manifest, for messages that ask for it.
MANIFEST_COMMAND = "govkpi manifest"

# Folders of dbt_project/ that dbt writes or fills, not project sources.
_GENERATED_DIRS = {"target", "logs", "dbt_packages"}


class DbtCrashed(TransientError):
    """dbt could not run to the end (no connection, a busy server): not dbt's verdict on the data.

    A retry may pass, so Airflow's retries apply (dag_support.RETRY_POLICY).
    """


class DbtProjectError(GovkpiError):
    """The dbt project itself does not parse or compile (a YAML or Jinja error, a bad registry row).

    No retry can fix it, so the task fails at once (dag_support.RETRY_POLICY),
    naming dbt's message; fix the project and run again.
    """


# dbt's words for a project it cannot read, as opposed to a warehouse it cannot reach.
_PROJECT_ERRORS = re.compile(r"\b(Parsing Error|Compilation Error|dbt parse failed)\b")
# govkpi.dbt_session's exit code when the project does not parse.
PROJECT_ERROR_EXIT = 3


# What dbt's docs site needs, as `dbt docs generate --static` writes it into the target folder.
DBT_DOCS_FILES = ("static_index.html", "index.html", "manifest.json", "catalog.json")


class ManifestUnavailable(GovkpiError):
    """The dbt manifest is missing or stale and cannot be (re)built here."""


def dbt_connection_env(warehouse_url: str) -> dict[str, str]:
    """The variables dbt_project/profiles.yml reads the connection from (contains the password)."""
    from govkpi.warehouse import libpq_parts  # psycopg: not needed to parse DAGs

    parts = libpq_parts(warehouse_url)
    return {
        "GOVKPI_DBT_HOST": parts["host"],
        "GOVKPI_DBT_PORT": parts["port"],
        "GOVKPI_DBT_USER": parts["user"],
        "GOVKPI_DBT_PASSWORD": parts["password"],
        "GOVKPI_DBT_DBNAME": parts["dbname"],
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_env(settings: Settings, warehouse_url: str) -> dict[str, str]:
    """Environment for dbt: the profile reads the connection from these variables."""
    env = dict(os.environ)
    env.update(dbt_connection_env(warehouse_url))
    env["DBT_PROFILES_DIR"] = str(settings.dbt_project_dir)
    return env


def manifest_path(project_dir: Path) -> Path:
    """Where the manifest built ahead lives (git-ignored, baked into the image)."""
    return project_dir / "target" / "manifest.json"


def manifest_problem(project_dir: Path) -> str | None:
    """Why the manifest cannot be used as it is (missing, or older than a project file); None if current."""
    manifest = manifest_path(project_dir)
    try:
        built = manifest.stat().st_mtime
    except FileNotFoundError:
        return f"the dbt manifest {manifest} does not exist"
    for folder, dirs, files in os.walk(project_dir):
        if folder == str(project_dir):
            dirs[:] = [d for d in dirs if d not in _GENERATED_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(folder, name)
            if path.stat().st_mtime > built:
                return f"the dbt manifest {manifest} is older than {path.relative_to(project_dir)}"
    return None


def require_manifest(project_dir: Path) -> Path:
    """The manifest's path; raise ManifestUnavailable, naming the command that builds it, if unusable."""
    problem = manifest_problem(project_dir)
    if problem:
        raise ManifestUnavailable(
            f"{problem}. Build it with `{MANIFEST_COMMAND}` (from the project folder, in its virtualenv); "
            "`govkpi run` and the Docker image build do this themselves."
        )
    return manifest_path(project_dir)


def ensure_manifest(settings: Settings) -> Path:
    """Build dbt_project/target/manifest.json with `dbt parse` if it is missing or stale; return its path.

    `dbt parse` reads no database, but the profile must render, so the
    connection variables get placeholders. The new manifest replaces the old
    one atomically: a DAG parse at the same moment reads one or the other.
    """
    project_dir = settings.dbt_project_dir
    manifest = manifest_path(project_dir)
    problem = manifest_problem(project_dir)
    if problem is None:
        return manifest
    log.info("%s: running dbt parse", problem)
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".parse-", dir=manifest.parent))
    except OSError as exc:
        raise ManifestUnavailable(
            f"{problem}, and {manifest.parent} is not writable ({exc}). Build the manifest where the "
            f"project is writable (`{MANIFEST_COMMAND}`, or `dbt parse` in the image build)."
        ) from exc
    # Dated when the parse starts: a file edited while dbt parses leaves the
    # new manifest stale, so the next call parses again.
    started = time.time()
    try:
        env = dict(os.environ)
        env.update(dbt_connection_env("postgresql://govkpi@localhost:5432/govkpi"))
        env["DBT_PROFILES_DIR"] = str(project_dir)
        command = [
            str(Path(sys.executable).with_name("dbt")),
            "parse",
            "--project-dir",
            str(project_dir),
            "--target-path",
            str(work),
            "--log-path",
            str(work),
            "--no-partial-parse",
        ]
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not (work / "manifest.json").exists():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise DbtFailed([f"dbt parse exited {proc.returncode}:\n{tail}"])
        os.utime(work / "manifest.json", (started, started))
        os.replace(work / "manifest.json", manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("built %s", manifest)
    return manifest


def run_dbt(settings: Settings, warehouse_url: str, args: list[str], *, target_path: Path | None = None) -> DbtResult:
    """Run one dbt command; raise DbtFailed naming each failed node."""
    target = target_path or settings.state_dir / "dbt" / "target"
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), *args, *_paths(settings, target)]
    return _run(command, settings, warehouse_url, target, " ".join(args))


def _paths(settings: Settings, target: Path) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    return ["--project-dir", str(settings.dbt_project_dir), "--target-path", str(target), "--log-path", str(target.parent / "logs")]


def _run(command: list[str], settings: Settings, warehouse_url: str, target: Path, what: str) -> DbtResult:
    """Run a dbt process; DbtFailed for the nodes dbt reported failing, DbtCrashed when dbt could not run."""
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)  # never read a previous run's results as this one's
    log.info("running dbt %s", what)
    proc = subprocess.run(command, env=dbt_env(settings, warehouse_url), capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        log.info("dbt: %s", line)
    for line in proc.stderr.splitlines():
        log.warning("dbt: %s", line)
    failures: list[str] = []
    invocation_id = ""
    nodes = 0
    if results_file.exists():
        results = json.loads(results_file.read_text())
        invocation_id = results.get("metadata", {}).get("invocation_id", "")
        nodes = len(results.get("results", []))
        if any(r.get("status") in FAILED_STATUSES for r in results.get("results", [])):
            manifest_file = target / "manifest.json"
            manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
            failures = failure_lines(results, manifest)
    if proc.returncode != 0:
        if not failures:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            if proc.returncode == PROJECT_ERROR_EXIT or _PROJECT_ERRORS.search(proc.stdout + proc.stderr):
                raise DbtProjectError(
                    f"dbt {what}: the dbt project {settings.dbt_project_dir} does not parse; fix it and run again:\n{tail}"
                )
            # Not dbt's verdict on the data (it did not get that far): a
            # connection lost or a server busy may pass on a retry.
            raise DbtCrashed(f"dbt {what} exited {proc.returncode}:\n{tail}")
        raise DbtFailed(failures)
    return DbtResult(invocation_id, nodes, target)


def dbt_test_outcomes(run_results: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The data tests and unit tests of a dbt run_results.json, compactly (ids, verdicts, counts; no data).

    `relation` is the model a test is defined on (the manifest's
    `attached_node`, or its model for a unit test).
    """
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    out = []
    for result in run_results.get("results", []):
        unique_id = result.get("unique_id", "")
        kind = unique_id.split(".", 1)[0]
        if kind not in ("test", "unit_test"):
            continue
        node = nodes.get(unique_id, {})
        if kind == "unit_test":
            relation, test_type = node.get("model") or "", "unit_test"
        else:
            relation = (node.get("attached_node") or "").rsplit(".", 1)[-1]
            test_type = (node.get("test_metadata") or {}).get("name") or "singular"
        out.append(
            {
                "unique_id": unique_id,
                "name": node.get("name") or unique_id.split(".")[2],
                "relation": relation,
                "test_type": test_type,
                "status": result.get("status"),
                "failures": result.get("failures"),
            }
        )
    return out


# A failure message names at most this many of the nodes dbt skipped because of it.
SKIPPED_NAMED = 12
# The statuses of a node dbt could not build or whose test did not pass.
FAILED_STATUSES = ("error", "fail", "runtime error")


def failure_lines(results: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """Each failing node with the model it belongs to, then what dbt skipped because of the failures.

    The lines of a `DbtFailed` from any dbt command (`_run`); without a
    manifest, the failing nodes are still named, without their models.
    """
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    lines, skipped = [], []
    for r in results.get("results", []):
        unique_id, status = r.get("unique_id", ""), r.get("status")
        node = nodes.get(unique_id, {})
        if status in FAILED_STATUSES:
            model = (node.get("attached_node") or "").rsplit(".", 1)[-1] or node.get("model") or ""
            where = f" (on {model})" if model else ""
            lines.append(f"{unique_id}{where}: {status} - {(r.get('message') or '').strip()}")
        elif status == "skipped" and unique_id.startswith(("model.", "seed.")):
            skipped.append(unique_id.rsplit(".", 1)[-1])
    if skipped:
        named = ", ".join(skipped[:SKIPPED_NAMED]) + (f" and {len(skipped) - SKIPPED_NAMED} more" if len(skipped) > SKIPPED_NAMED else "")
        lines.append(f"not built because of these failures ({len(skipped)} models): {named}")
    return lines


def dbt_build(settings: Settings, warehouse_url: str, *, docs: bool = False) -> DbtResult:
    """Build seeds, models and tests into the audit schema (`marts_audit`), in one dbt process.

    With `docs`, the same process then writes dbt's docs of the build
    (`static_index.html`, `catalog.json`) into the target folder
    (govkpi.dbt_session). The target folder is kept from one build to the
    next: dbt's partial-parse state in it makes the next parse incremental.
    """
    target = settings.state_dir / "dbt" / "target"
    command = [sys.executable, "-m", "govkpi.dbt_session", *_paths(settings, target)]
    if docs:
        command.append("--docs")
    for stale in DBT_DOCS_FILES:
        (target / stale).unlink(missing_ok=True)
    return _run(command, settings, warehouse_url, target, "build" + (" + docs generate" if docs else ""))
