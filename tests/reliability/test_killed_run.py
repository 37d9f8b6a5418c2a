"""`govkpi run` killed (SIGKILL to its whole process tree) in the dbt build, in the gate and in publish.

On a copy of the session's sample publication, `govkpi run` is started
again and killed with everything it started (Airflow's `dags test`, dbt,
Great Expectations) as soon as PostgreSQL shows it in the stage: dbt
building `marts_audit`, the gate's validation run open, publish holding
its lock. The next `govkpi run` starts with no manual step; it gets past
the stage the previous one died in, and the last one publishes. Then:
no validation run is left open, no Airflow run is left running, no
`marts_next` or `marts_retired` schema is left, and `marts` is what the
publication log says was published.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from conftest import GOVKPI, ROOT, SAMPLE_DIR, govkpi_env, marts_fingerprint

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.reliability]

RESULTS = Path(os.environ.get("GOVKPI_RELIABILITY_OUT", ROOT / ".govkpi" / "reliability"))

STAGES = {
    # dbt's connections are named by dbt-postgres
    "dbt build": "select 1 from pg_stat_activity where application_name like 'dbt%%' and state = 'active'",
    "gate": "select 1 from audit.validation_run where finished_at is null and scope = 'full' and started_at > %(since)s",
    "publish": "select 1 from pg_locks where locktype = 'advisory' and granted "
               "and objid::int = hashtext('govkpi.publish')",
}


def _run_until(env: dict[str, str], url: str, stage: str) -> tuple[float, str]:
    """Start `govkpi run`, kill its process tree when `stage` shows; return when, and its output so far."""
    since = time.time()
    proc = subprocess.Popen(
        [str(GOVKPI), "run", "--extracts", str(SAMPLE_DIR)], env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 600
    with psycopg.connect(url, autocommit=True) as conn:
        started = conn.execute("select now()").fetchone()[0]
        while time.monotonic() < deadline:
            if conn.execute(STAGES[stage], {"since": started}).fetchone():
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate(timeout=60)
                return time.time() - since, out
            if proc.poll() is not None:
                out, _ = proc.communicate()
                pytest.fail(f"govkpi run ended before reaching {stage}:\n{out[-3000:]}")
            time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"govkpi run did not reach {stage} in 600 s")


def test_a_run_killed_in_build_gate_and_publish_is_recovered_by_the_next_with_no_manual_step(published_db, tmp_path):
    state = tmp_path / "state"
    env = govkpi_env(published_db, state)
    with psycopg.connect(published_db) as conn:
        first = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
    killed = {}
    for stage in STAGES:
        seconds, out = _run_until(env, published_db, stage)
        killed[stage] = round(seconds, 1)
        # whatever was killed, the published marts are still the last publication's
        with psycopg.connect(published_db) as conn:
            latest, hashes = conn.execute(
                "select publication_id, content_hashes from audit.publication order by 1 desc limit 1"
            ).fetchone()
            leftovers = [r[0] for r in conn.execute(
                "select nspname from pg_namespace where nspname in ('marts_next', 'marts_retired')"
            )]
        assert {t: h.split(":")[0] for t, h in hashes.items()} == {
            t: f.split(":")[0] for t, f in marts_fingerprint(published_db).items()
        }, f"after a kill in {stage}, marts differs from publication {latest}"
        # a kill inside publish's transaction leaves no half-built schema (it rolls back)
        assert leftovers == [] or stage != "publish", leftovers
    final = subprocess.run(
        [str(GOVKPI), "run", "--extracts", str(SAMPLE_DIR)], env=env, capture_output=True, text=True, timeout=900
    )
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert "govkpi_warehouse: success" in final.stdout
    with psycopg.connect(published_db) as conn:
        newest = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
        open_runs = conn.execute("select count(*) from audit.validation_run where finished_at is null").fetchone()[0]
        leftovers = [r[0] for r in conn.execute("select nspname from pg_namespace where nspname in ('marts_next', 'marts_retired')")]
        unfinished_batches = conn.execute("select count(*) from audit.load_batch where finished_at is null").fetchone()[0]
    assert newest > first
    assert open_runs == 0, "a killed gate's validation run is left open"
    assert leftovers == [] and unfinished_batches == 0
    airflow_db = state / "airflow" / "airflow.db"
    with sqlite3.connect(airflow_db) as db:
        running = db.execute("select dag_id, run_id from dag_run where state in ('running', 'queued')").fetchall()
    assert running == [], f"Airflow runs left running: {running}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "faults.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    found["warehouse_run_sigkill_in_build_gate_publish"] = {
        "killed_after_s": killed, "publication_stands": True, "recovered_by_next_run": True,
        "message": f"killed in dbt build, gate and publish; the next run published {newest} (previous {first}); "
                   f"0 validation runs open, 0 Airflow runs running, no half-built schema",
    }
    path.write_text(json.dumps(found, indent=2, ensure_ascii=False))


def test_a_run_whose_document_task_meets_a_full_disk_publishes_and_says_what_to_free(published_db, tmp_path):
    """The real DAGs, with <state>/publications on a full filesystem (a 64 KiB tmpfs)."""
    if os.geteuid() != 0:
        pytest.skip("a real full filesystem is mounted (tmpfs), which needs root")
    state = tmp_path / "state"
    target = state / "publications"
    target.mkdir(parents=True)
    env = govkpi_env(published_db, state)
    with psycopg.connect(published_db) as conn:
        before = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "govkpi-full", str(target)], check=True)
    try:
        proc = subprocess.run([str(GOVKPI), "run", "--extracts", str(SAMPLE_DIR)], env=env, capture_output=True, text=True, timeout=900)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        assert "is full" in out and "free space there" in out and str(target) in out, out[-3000:]
        assert "The new publication is live; only its documentation was not written" in out
        assert "previously published marts" not in out
        assert list(target.iterdir()) == [], "nothing partial left on the full disk"
    finally:
        subprocess.run(["umount", str(target)], check=False)
    with psycopg.connect(published_db) as conn:
        newest, hashes = conn.execute(
            "select publication_id, content_hashes from audit.publication order by 1 desc limit 1"
        ).fetchone()
    assert newest == before + 1
    assert {t: h.split(":")[0] for t, h in hashes.items()} == {t: f.split(":")[0] for t, f in marts_fingerprint(published_db).items()}
    # room again: the next run publishes and documents
    again = subprocess.run([str(GOVKPI), "run", "--extracts", str(SAMPLE_DIR)], env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (target / str(newest + 1) / "publication.json").is_file()
    path = RESULTS / "faults.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    found = json.loads(path.read_text()) if path.exists() else {}
    message = next(line.strip() for line in out.splitlines() if "is full" in line)
    found["document_task_on_a_full_disk_in_govkpi_run"] = {"publication_stands": True, "message": message[:400]}
    path.write_text(json.dumps(found, indent=2, ensure_ascii=False))
