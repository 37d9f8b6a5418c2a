"""`govkpi warehouse start|url|stop` manage the embedded PostgreSQL a BI tool can connect to."""

from __future__ import annotations

import os

import psycopg
import pytest
from conftest import run_govkpi

pytestmark = pytest.mark.integration


def test_embedded_warehouse_lifecycle(tmp_path):
    env = dict(os.environ)
    env.pop("GOVKPI_WAREHOUSE_URL", None)
    env["GOVKPI_STATE_DIR"] = str(tmp_path / "state")

    started = run_govkpi(["warehouse", "start"], env)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql://") and "/govkpi" in url
    try:
        shown = run_govkpi(["warehouse", "url"], env)
        assert shown.returncode == 0 and shown.stdout.strip() == url
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "govkpi"
            assert conn.execute("show server_version_num").fetchone()[0] >= "150000"
        again = run_govkpi(["warehouse", "start"], env)
        assert again.returncode == 0 and again.stdout.strip() == url
        nothing = run_govkpi(["kpi", "--year", "2023"], env)
        assert nothing.returncode == 2 and "nothing is published yet" in nothing.stderr
    finally:
        stopped = run_govkpi(["warehouse", "stop"], env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3).close()
    after = run_govkpi(["warehouse", "url"], env)
    assert after.returncode == 2 and "not running" in after.stderr


def test_external_warehouse_is_not_managed(tmp_path):
    env = dict(os.environ, GOVKPI_WAREHOUSE_URL="postgresql://bi:secret@db.example:5432/govkpi", GOVKPI_STATE_DIR=str(tmp_path))
    assert run_govkpi(["warehouse", "url"], env).stdout.strip() == "postgresql://bi:secret@db.example:5432/govkpi"
    refused = run_govkpi(["warehouse", "stop"], env)
    assert refused.returncode == 2 and "managed elsewhere" in refused.stderr and "secret" not in refused.stderr


def test_malformed_settings_name_the_variable(tmp_path):
    env = dict(os.environ, GOVKPI_WAREHOUSE_URL="mysql://x", GOVKPI_STATE_DIR=str(tmp_path))
    proc = run_govkpi(["kpi"], env)
    assert proc.returncode == 2 and "GOVKPI_WAREHOUSE_URL" in proc.stderr
    env = dict(os.environ, GOVKPI_PSEUDONYM_KEY="short", GOVKPI_STATE_DIR=str(tmp_path))
    env.pop("GOVKPI_WAREHOUSE_URL", None)
    proc = run_govkpi(["warehouse", "url"], env)
    assert proc.returncode == 2 and "GOVKPI_PSEUDONYM_KEY" in proc.stderr
