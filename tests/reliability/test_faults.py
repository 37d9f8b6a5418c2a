"""Faults injected for real: the loader killed mid-COPY and at its manifest write, the server shut down
mid-COPY, and `document` meeting a full or read-only state folder.

A roster of 300,000 rows (synthetic, valid IDs) is loaded with `govkpi
load`, as the ingest DAG's task loads it. While PostgreSQL reports the COPY
into raw under way, either the loading process gets SIGKILL, or the
warehouse server gets an immediate shutdown (SIGQUIT to the postmaster:
no checkpoint, crash recovery at the next start). Then, with no manual
step, the same command runs again. The file must be loaded exactly once:
one manifest row, as many raw rows as the file has, none twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from conftest import GOVKPI, ROOT, govkpi_env
from stdnum.cn import ric

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROWS = 300_000
RESULTS = Path(os.environ.get("GOVKPI_RELIABILITY_OUT", ROOT / ".govkpi" / "reliability"))
HEADER = "序号,姓名,性别,公民身份号码,联系电话,所在村(社区),班级编号,报名日期,是否结业"


def _ids(count: int):
    """Distinct valid synthetic resident IDs (region 340421, birth dates from 1960 on)."""
    import datetime as dt

    day, seq = dt.date(1960, 1, 1), 0
    for _ in range(count):
        body = f"340421{day:%Y%m%d}{seq:03d}"
        total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
        rid = body + "10X98765432"[total % 11]
        assert ric.is_valid(rid)
        yield rid
        seq += 1
        if seq == 1000:
            seq, day = 0, day + dt.timedelta(days=1)


def big_landing(folder: Path) -> Path:
    """A landing folder with one roster of ROWS rows (synthetic: generated IDs and names)."""
    target = folder / "hrss" / "2023-03"
    target.mkdir(parents=True)
    (folder / "register").mkdir()
    (folder / "register" / "areas.csv").write_bytes((ROOT / "sample_data" / "register" / "areas.csv").read_bytes())
    villages = ("杏花村", "后庄社区")
    lines = ["**镇2023年3月职业技能培训学员花名册（合成数据，非真实人员）,,,,,,,,", HEADER]
    for n, rid in enumerate(_ids(ROWS), start=1):
        lines.append(f"{n},学员{n},{'男' if int(rid[16]) % 2 else '女'},{rid},170{n:08d},{villages[n % 2]},NY-2023-01,2023-03-0{1 + n % 9},是")
    (target / "培训学员花名册_2023-03.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    (target / "_DELIVERED").write_text("")
    return folder


def start_load(env: dict[str, str], landing: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(GOVKPI), "load", "hrss", "--extracts", str(landing)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_copy(url: str, proc: subprocess.Popen, timeout: float = 120) -> int:
    """Wait until PostgreSQL reports rows copied into raw.hrss_enrolment; return how many."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select tuples_processed from pg_stat_progress_copy p join pg_class c on c.oid = p.relid "
                "where c.relname = 'hrss_enrolment' and tuples_processed > 0"
            ).fetchone()
            if row:
                return int(row[0])
            assert proc.poll() is None, "the load ended before its COPY was seen:\n" + "\n".join(proc.communicate())
            time.sleep(0.005)
    pytest.fail("no COPY into raw.hrss_enrolment seen")


def file_state(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        has_raw = conn.execute("select to_regclass('raw.hrss_enrolment') is not null").fetchone()[0]
        return {
            "raw_rows": conn.execute("select count(*) from raw.hrss_enrolment").fetchone()[0] if has_raw else 0,
            "distinct_rows": conn.execute(
                "select count(distinct (_file_id, _row_number)) from raw.hrss_enrolment"
            ).fetchone()[0] if has_raw else 0,
            "manifest_loaded": conn.execute(
                "select count(*) from audit.load_manifest where status = 'loaded'"
            ).fetchone()[0],
            "batches_unfinished": conn.execute(
                "select count(*) from audit.load_batch where finished_at is null"
            ).fetchone()[0],
        }


def record(name: str, **figures) -> None:
    """Add this fault's figures to the reliability results (one worker runs this module)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "faults.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    found[name] = figures
    path.write_text(json.dumps(found, indent=2, ensure_ascii=False))


def rerun_loads_once(env: dict[str, str], landing: Path, url: str) -> dict[str, int]:
    proc = subprocess.run([str(GOVKPI), "load", "hrss", "--extracts", str(landing)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"read {ROWS}, loaded {ROWS}, rejected 0" in proc.stdout, proc.stdout
    after = file_state(url)
    assert after == {"raw_rows": ROWS, "distinct_rows": ROWS, "manifest_loaded": 1, "batches_unfinished": 0}, after
    again = subprocess.run([str(GOVKPI), "load", "hrss", "--extracts", str(landing)], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already" in again.stdout, again.stdout + again.stderr
    assert file_state(url) == after
    return after


@pytest.fixture
def fresh_db(pg_admin_url: str):
    """A new empty database for each test here (each loads the same file and must find it new)."""
    import secrets

    from conftest import _create_database, _drop_database

    name = f"govkpi_fault_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name)
    try:
        yield url
    finally:
        _drop_database(pg_admin_url, name)


def test_the_loader_killed_mid_copy_leaves_nothing_and_the_rerun_loads_the_file_once(fresh_db, tmp_path):
    landing = big_landing(tmp_path / "landing")
    env = govkpi_env(fresh_db, tmp_path / "state")
    proc = start_load(env, landing)
    copied = wait_for_copy(fresh_db, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # the server notices the client is gone and rolls the batch's transaction back
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while conn.execute("select count(*) from pg_stat_progress_copy").fetchone()[0]:
            assert time.monotonic() < deadline, "the killed loader's COPY is still running"
            time.sleep(0.1)
    before = file_state(fresh_db)
    assert before["raw_rows"] == 0 and before["manifest_loaded"] == 0, before
    after = rerun_loads_once(env, landing, fresh_db)
    record("loader_sigkill_mid_copy", rows_copied_when_killed=copied, rows_after_kill=before["raw_rows"], **after)


def test_the_server_shut_down_mid_copy_recovers_and_the_rerun_loads_the_file_once(tmp_path):
    """The embedded warehouse (govkpi's own PostgreSQL) stopped without a checkpoint, mid-COPY."""
    landing = big_landing(tmp_path / "landing")
    env = govkpi_env("", tmp_path / "state")
    env.pop("GOVKPI_WAREHOUSE_URL")
    started = subprocess.run([str(GOVKPI), "warehouse", "start"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    env["GOVKPI_WAREHOUSE_URL"] = url  # as the ingest DAG's task gets it from `govkpi run`
    pgdata = tmp_path / "state" / "pgdata"
    try:
        proc = start_load(env, landing)
        copied = wait_for_copy(url, proc)
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, out
        # the loader says what happened, not a traceback
        assert "Traceback" not in err, err[-2000:]
        deadline = time.monotonic() + 60
        while (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (pgdata / "postmaster.pid").exists(), "the server did not stop"
        # the server is started again (as its service manager, or `govkpi run`, does) and
        # recovers from its WAL; govkpi needs no clean-up before the rerun
        restarted = subprocess.run([str(GOVKPI), "warehouse", "start"], env={**env, "GOVKPI_WAREHOUSE_URL": ""},
                                   capture_output=True, text=True, timeout=300)
        assert restarted.returncode == 0 and restarted.stdout.strip().splitlines()[-1] == url, restarted.stderr
        after = rerun_loads_once(env, landing, url)
        record("server_immediate_shutdown_mid_copy", rows_copied_when_stopped=copied, loader_exit=proc.returncode,
               loader_message=err.strip().splitlines()[-1][:300] if err.strip() else "", **after)
    finally:
        subprocess.run([str(GOVKPI), "warehouse", "stop"], env={**env, "GOVKPI_WAREHOUSE_URL": ""}, capture_output=True, timeout=120)


@pytest.mark.parametrize("fault", ["full", "read_only"])
def test_documenting_on_a_full_or_read_only_state_folder_says_what_to_fix_and_the_publication_stands(
    fault, published_db, state_dir, tmp_path
):
    """`document` (after publish) meets a full disk, or a read-only one, under <state>/publications."""
    import shutil

    from conftest import marts_fingerprint

    from govkpi.publication_docs import DocsUnavailable, document_publication
    from govkpi.settings import load_settings
    from govkpi.transform import DBT_DOCS_FILES

    if os.geteuid() != 0:
        pytest.skip("a real full or read-only filesystem is mounted (tmpfs), which needs root")
    state = tmp_path / "state"
    shutil.copytree(state_dir / "validations", state / "validations")
    docs = tmp_path / "dbt-docs"
    docs.mkdir()
    for name in DBT_DOCS_FILES:
        shutil.copyfile(state_dir / "dbt" / "target" / name, docs / name)
    target = state / "publications"
    target.mkdir()
    options = "size=64k" if fault == "full" else "ro,size=1m"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, f"govkpi-{fault}", str(target)], check=True)
    try:
        settings = load_settings(govkpi_env(published_db, state))
        with psycopg.connect(published_db) as conn:
            publication, published = conn.execute(
                "select publication_id, content_hashes from audit.publication order by 1 desc limit 1"
            ).fetchone()
        before = marts_fingerprint(published_db)
        with pytest.raises(DocsUnavailable) as failed:
            document_publication(settings, published_db, publication, docs)
        message = str(failed.value)
        assert f"publication {publication} is published and stands" in message, message
        if fault == "full":
            assert "is full" in message and "free space" in message and str(target) in message, message
        else:
            assert "cannot be written" in message and "writable" in message, message
        assert list(target.iterdir()) == [], "nothing partial left behind"
        # the publication is untouched: same marts, same log
        assert marts_fingerprint(published_db) == before
        with psycopg.connect(published_db) as conn:
            assert conn.execute("select max(publication_id) from audit.publication").fetchone()[0] == publication
        record(f"document_on_{fault}_state_folder", publication_stands=True, message=message[:300])
    finally:
        subprocess.run(["umount", str(target)], check=False)
    # with room again, the same publication is documented
    assert document_publication(settings, published_db, publication, docs).is_dir()


def test_the_loader_killed_while_writing_its_manifest_row_leaves_nothing_and_the_rerun_loads_once(fresh_db, tmp_path):
    """The loader stopped exactly at its manifest row (a lock holds it there, before its COPY), then SIGKILLed."""
    landing = big_landing(tmp_path / "landing")
    env = govkpi_env(fresh_db, tmp_path / "state")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        from govkpi.migrations import migrate

        migrate(conn)
    with psycopg.connect(fresh_db) as blocker:
        # SHARE conflicts with inserts only: the loader copies its rows, then waits at its manifest row
        blocker.execute("lock table audit.load_manifest in share mode")
        proc = start_load(env, landing)
        with psycopg.connect(fresh_db, autocommit=True) as watcher:
            deadline = time.monotonic() + 300
            while True:
                waiting = watcher.execute(
                    "select a.pid, left(a.query, 60) from pg_locks l join pg_stat_activity a on a.pid = l.pid "
                    "where l.relation = 'audit.load_manifest'::regclass and not l.granted and a.query ilike '%%insert into audit.load_manifest%%'"
                ).fetchone()
                if waiting:
                    break
                assert proc.poll() is None, "the load ended before its manifest write:\n" + "\n".join(proc.communicate())
                assert time.monotonic() < deadline, "the loader never reached its manifest write"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        blocker.commit()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while conn.execute("select 1 from pg_stat_activity where pid = %s", (waiting[0],)).fetchone():
            assert time.monotonic() < deadline, "the killed loader's transaction is still open"
            time.sleep(0.1)
    before = file_state(fresh_db)
    assert before["raw_rows"] == 0 and before["manifest_loaded"] == 0 and before["batches_unfinished"] == 0, before
    after = rerun_loads_once(env, landing, fresh_db)
    # the file's manifest row is written first in the batch's transaction, then its rows are copied
    record("loader_sigkill_at_manifest_write", rows_copied_when_killed=0, rows_after_kill=before["raw_rows"], **after)
