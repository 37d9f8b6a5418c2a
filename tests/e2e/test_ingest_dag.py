"""The ingest DAGs on monthly data intervals, run for real through Airflow.

One module database: the sample HR & SS year is loaded and published in
one go (`govkpi run`), then single months are run the way the scheduler
and a backfill run them (`airflow dags test` at the 1st of the next month,
whose data interval is the month):

- re-running a month that is already loaded changes nothing;
- a corrected March roster supersedes the March file, the manifest keeps
  both, and the next publication shows the corrected March figures;
- a month whose delivery is missing past its deadline fails naming the
  department, the month and the expected path, and leaves an alert;
- a month whose marker is not there yet is waited for (deferred), then
  loaded, and only that month's files are.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from conftest import ROOT, copy_samples, govkpi_env, run_dag, run_govkpi

from govkpi import orchestrate
from govkpi.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAG_ID = "govkpi_ingest_hrss"


def run_after(period: str) -> dt.datetime:
    """The logical date whose manual data interval is the month `period`: its next 1st, 00:00 local."""
    year, month = map(int, period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.datetime(year, month, 1, tzinfo=SHANGHAI)


def airflow_for(env: dict[str, str]):
    """govkpi settings and the local Airflow's environment for a test's govkpi environment."""
    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
        return settings, orchestrate.airflow_env(settings, {})
    finally:
        os.environ.clear()
        os.environ.update(old)


def dags_test(env: dict[str, str], dag_id: str, period: str | None = None) -> orchestrate.DagRunResult:
    return run_dag(env, dag_id, logical_date=run_after(period) if period else None)


def manifest(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select file_id, extract_name, period, file_name, sha256, status, superseded_by_file_id "
            "from audit.load_manifest order by file_id"
        ).fetchall()


def raw_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
        ).fetchall()]
        return {t: conn.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}


def kpi(url: str, code: str, grain: str, start: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select value from marts.fct_kpi_value where kpi_code = %s and period_grain = %s "
            "and period_start_date = %s and area_level = 'township' and breakdown_dimension is null",
            (code, grain, start),
        ).fetchone()
    assert row is not None, f"no published {code} for {grain} {start}"
    return float(row[0])


@pytest.fixture(scope="module")
def published(published_db: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    landing = copy_samples(tmp_path_factory.mktemp("landing"))
    alerts = tmp_path_factory.mktemp("alerts")
    env = govkpi_env(
        published_db, state_dir, GOVKPI_LANDING_DIR=str(landing), GOVKPI_ALERT_DIR=str(alerts), GOVKPI_DELIVERY_POLL_SECONDS="1"
    )
    return landing, env, alerts


def test_sample_hrss_is_delivered_monthly(published):
    landing, _, _ = published
    months = sorted(p.name for p in (landing / "hrss").iterdir() if p.is_dir())
    assert months == [f"2023-{m:02d}" for m in range(1, 13)]
    assert all((landing / "hrss" / m / "_DELIVERED").is_file() for m in months)


def test_rerunning_a_loaded_month_changes_nothing(published, published_db):
    _, env, _ = published
    before_manifest, before_raw = manifest(published_db), raw_counts(published_db)
    with psycopg.connect(published_db) as conn:
        batches = conn.execute("select count(*) from audit.load_batch").fetchone()[0]

    result = dags_test(env, DAG_ID, "2023-03")

    assert result.ok, result.errors
    assert manifest(published_db) == before_manifest
    assert raw_counts(published_db) == before_raw
    with psycopg.connect(published_db) as conn:
        # nothing new: not even an empty batch is recorded
        assert conn.execute("select count(*) from audit.load_batch").fetchone()[0] == batches


def _enrolment_month(text: str) -> str:
    """'YYYY-MM' of a 报名日期 in any of the clerks' styles (2023/3/6, 2023-03-06, 2023年3月6日, 2023.3.6, 20230306)."""
    match = re.match(r"\s*(\d{4})\D?(\d{2}(?=\d{2}$)|\d{1,2})", text)
    assert match, text
    return f"{match.group(1)}-{int(match.group(2)):02d}"


def _not_completed_single_enrolment(roster: Path) -> tuple[list[str], int, str]:
    """The roster's lines, the index of a 是否结业=否 row whose person is in no other class, and its enrolment month."""
    text = roster.read_bytes().decode("gb18030")
    lines = text.split("\r\n")
    header = lines[1].split(",")
    id_col, done_col, date_col = header.index("公民身份号码"), header.index("是否结业"), header.index("报名日期")
    # the person must not be enrolled anywhere else in the year, or the
    # distinct-trainee count would not move
    all_ids: dict[str, int] = {}
    for other in sorted(roster.parent.parent.glob("*/*学员花名册*.csv")):
        for line in other.read_bytes().decode("gb18030").split("\r\n")[2:]:
            if line:
                person = line.split(",")[id_col].strip().upper()
                all_ids[person] = all_ids.get(person, 0) + 1
    for i, line in enumerate(lines[2:], start=2):
        cells = line.split(",")
        if line and cells[done_col] == "否" and all_ids[cells[id_col].strip().upper()] == 1:
            return lines, i, _enrolment_month(cells[date_col])
    raise AssertionError(f"no single, not-completed enrolment in {roster}")


def test_corrected_march_roster_supersedes_and_is_published(published, published_db):
    landing, env, _ = published
    march = landing / "hrss" / "2023-03"
    roster = next(march.glob("*学员花名册*.csv"))
    # The department re-sends March's roster without one enrolment it had
    # entered by mistake: same file name, same period, different bytes.
    lines, index, month = _not_completed_single_enrolment(roster)
    other_month = "2023-07"  # no class of the March roster enrols then
    trainees_month = kpi(published_db, "hrss_trainees", "month", f"{month}-01")
    trainees_year = kpi(published_db, "hrss_trainees", "year", "2023-01-01")
    trainees_other = kpi(published_db, "hrss_trainees", "month", f"{other_month}-01")
    with psycopg.connect(published_db) as conn:
        publications = conn.execute("select count(*) from audit.publication").fetchone()[0]
        before_id, before = conn.execute(
            "select max(publication_id), clock_timestamp() from audit.publication"
        ).fetchone()
    public_before = run_govkpi(["kpi", "--json"], env)
    assert public_before.returncode == 0, public_before.stderr
    old_rows = [r for r in manifest(published_db) if r[3] == roster.name]
    assert len(old_rows) == 1 and old_rows[0][5] == "loaded" and old_rows[0][6] is None

    del lines[index]
    roster.write_bytes("\r\n".join(lines).encode("gb18030"))

    ingest = dags_test(env, DAG_ID, "2023-03")
    assert ingest.ok, ingest.errors
    rows = [r for r in manifest(published_db) if r[3] == roster.name]
    assert len(rows) == 2, rows
    old, new = rows
    assert old[4] != new[4] and new[5] == "loaded" and new[6] is None
    assert old[6] == new[0], "the earlier March roster must be marked superseded by the corrected one"
    assert old[5] == "loaded", "the superseded file stays listed as it was loaded"
    assert new[2] == "2023-03"

    warehouse = dags_test(env, orchestrate.WAREHOUSE_DAG)
    assert warehouse.ok, warehouse.errors
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from audit.publication").fetchone()[0] == publications + 1
    assert kpi(published_db, "hrss_trainees", "month", f"{month}-01") == trainees_month - 1
    assert kpi(published_db, "hrss_trainees", "year", "2023-01-01") == trainees_year - 1
    assert kpi(published_db, "hrss_trainees", "month", f"{other_month}-01") == trainees_other

    # The build recomputed the periods the correction touched, not the year
    # of every KPI (docs/adr/0024) ...
    with psycopg.connect(published_db) as conn:
        rebuilt = set(conn.execute(
            "select measure_code, period_grain, to_char(period_start_date, 'YYYY-MM') "
            "from intermediate.kpi_changed_partitions"
        ).fetchall())
    assert {("hrss_trainees", "month", month), ("hrss_trainees", "year", "2023-01")} <= rebuilt, rebuilt
    assert ("hrss_trainees", "month", other_month) not in rebuilt, rebuilt
    assert not any(code.startswith(("health_", "enf_")) for code, _, _ in rebuilt), rebuilt
    # ... and what it published is what a rebuild from scratch of the same files gives
    verified = run_govkpi(["audit", "verify", "latest"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "matches" in verified.stdout

    # The ledger (docs/adr/0028): what was public before the correction, exactly ...
    as_of = run_govkpi(["kpi", "--json", "--as-of", before.isoformat()], env)
    assert as_of.returncode == 0, as_of.stdout + as_of.stderr
    assert json.loads(as_of.stdout) == json.loads(public_before.stdout)
    public_after = run_govkpi(["kpi", "--json"], env)
    assert json.loads(public_after.stdout) != json.loads(public_before.stdout)

    # ... and each value the correction changed, with the files that changed it
    def keyed(rows: list[dict]) -> dict[tuple, object]:
        return {tuple(r[c] for c in ("kpi_code", "period_grain", "period_start_date", "area_level", "area_code",
                                     "breakdown_dimension", "breakdown_member")): (r["value"], r["numerator"], r["denominator"])
                for r in rows}

    old_values, new_values = keyed(json.loads(public_before.stdout)), keyed(json.loads(public_after.stdout))
    changed = {k for k in old_values.keys() | new_values.keys() if old_values.get(k) != new_values.get(k)}
    assert ("hrss_trainees", "month", f"{month}-01", "township", "township", None, None) in changed
    with psycopg.connect(published_db) as conn:
        after_id = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
    listed = run_govkpi(["kpi", "diff", str(before_id), str(after_id), "--json"], env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    differences = json.loads(listed.stdout)
    assert keyed([{**d, "value": d["value_b"], "numerator": d["numerator_b"], "denominator": d["denominator_b"]}
                  for d in differences]).keys() == changed
    for d in differences:
        assert d["kpi_code"].startswith("hrss_"), d
        assert d["files_added"] == [f"{roster.name} (file {new[0]})"], d
        assert d["files_withdrawn"] == [f"{roster.name} (file {old[0]})"], d
    trainees = next(d for d in differences if (d["kpi_code"], d["period_grain"], d["area_code"], d["breakdown_member"])
                    == ("hrss_trainees", "year", "township", None))
    assert (trainees["value_a"], trainees["value_b"]) == (trainees_year, trainees_year - 1)
    too_early = run_govkpi(["kpi", "--as-of", "2000-01-01"], env)
    assert too_early.returncode != 0 and "nothing was public at 2000-01-01T00:00:00+00:00" in too_early.stdout + too_early.stderr
    text = run_govkpi(["kpi", "diff", str(before_id), str(after_id)], env)
    assert f"{len(differences)} KPI values differ between publications {before_id} and {after_id}" in text.stdout
    assert f"+ {roster.name} (file {new[0]})" in text.stdout

    # The same corrected delivery again (issue 14): nothing loaded, the next
    # publication changes no figure; each restated value changed exactly once.
    again = dags_test(env, DAG_ID, "2023-03")
    assert again.ok, again.errors
    assert [r for r in manifest(published_db) if r[3] == roster.name] == rows
    republished = dags_test(env, orchestrate.WAREHOUSE_DAG)
    assert republished.ok, republished.errors
    with psycopg.connect(published_db) as conn:
        latest = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
        replaced_since = conn.execute(
            "select count(*) from audit.kpi_value_ledger where replaced_in > %s", (after_id,)
        ).fetchone()[0]
        restated_twice = conn.execute(
            "select count(*) from (select kpi_code, period_grain, period_start_date, area_code, "
            "coalesce(breakdown_dimension, ''), coalesce(breakdown_member, '') from audit.kpi_value_ledger "
            "where published_in > %s group by 1, 2, 3, 4, 5, 6 having count(*) > 1) as twice",
            (before_id,),
        ).fetchone()[0]
    assert latest == after_id + 1
    assert replaced_since == 0 and restated_twice == 0
    unchanged = run_govkpi(["kpi", "diff", str(after_id), str(latest)], env)
    assert f"No KPI value differs between publications {after_id} and {latest}." in unchanged.stdout


def test_comparisons_left_pending_are_recomputed_by_the_next_build(published, published_db):
    """A build that stops after fct_kpi_value leaves the comparison's partitions pending (docs/adr/0034).

    dbt skips fct_kpi_comparison when a test on fct_kpi_value fails, after
    fct_kpi_value replaced its partitions: those comparisons are stale and
    listed in intermediate.kpi_comparison_pending. The state is made here as
    that build leaves it; the next build recomputes them and what reaches
    marts is what a rebuild from scratch gives.
    """
    _, env, _ = published
    may = ("hrss_trainees", "month", dt.date(2023, 5, 1))
    columns = "area_code, breakdown_member, value, previous_value, change, ytd_value, rank_in_parent"
    where = "kpi_code = %s and period_grain = %s and period_start_date = %s"
    order = " order by area_code, breakdown_member"
    with psycopg.connect(published_db, autocommit=True) as conn:
        assert conn.execute("select count(*) from intermediate.kpi_comparison_pending").fetchone()[0] == 0, (
            "the last build left comparisons pending"
        )
        published_may = conn.execute(f"select {columns} from marts.fct_kpi_comparison where {where}{order}", may).fetchall()
        june_previous = conn.execute(
            f"select area_code, breakdown_member, previous_value from marts.fct_kpi_comparison where {where}{order}",
            (may[0], may[1], dt.date(2023, 6, 1)),
        ).fetchall()
        may_values = {(r[0], r[1]): r[2] for r in published_may}
        assert published_may and june_previous
        assert all(previous == may_values.get((area, member)) for area, member, previous in june_previous), june_previous
        stale = conn.execute(
            f"update marts_audit.fct_kpi_comparison set value = value + 1000, ytd_value = null where {where}", may
        ).rowcount
        assert stale == len(published_may)
        conn.execute(
            "insert into intermediate.kpi_comparison_pending (kpi_code, period_grain, period_start_date) values (%s, %s, %s)",
            may,
        )
    warehouse = dags_test(env, orchestrate.WAREHOUSE_DAG)
    assert warehouse.ok, warehouse.errors
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from intermediate.kpi_comparison_pending").fetchone()[0] == 0
        assert conn.execute(f"select {columns} from marts_audit.fct_kpi_comparison where {where}{order}", may).fetchall() == published_may
        assert conn.execute(f"select {columns} from marts.fct_kpi_comparison where {where}{order}", may).fetchall() == published_may
    verified = run_govkpi(["audit", "verify", "latest"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "matches" in verified.stdout


def test_missing_delivery_fails_at_its_deadline_naming_it(published, published_db):
    landing, env, alerts = published
    before = manifest(published_db)
    # 2024-05 was never delivered and its deadline (0 h after the month) is past.
    result = dags_test({**env, "GOVKPI_DELIVERY_DEADLINE_HOURS": "0"}, DAG_ID, "2024-05")

    assert not result.ok
    assert result.failed_tasks == ["wait_for_delivery"]
    text = result.log_file.read_text(errors="replace")
    expected = landing / "hrss" / "2024-05" / "_DELIVERED"
    assert "no delivery of department 'hrss' for period 2024-05" in text
    assert str(expected) in text
    assert manifest(published_db) == before
    found = [a for a in map(json.loads, (alerts / "alerts.jsonl").read_text().splitlines()) if a["task_id"] == "wait_for_delivery"]
    assert found and found[-1]["kind"] == "task_failed" and found[-1]["dag_id"] == DAG_ID
    assert "2024-05" in found[-1]["error"] and str(expected) in found[-1]["error"]


def test_waits_deferred_for_the_marker_then_loads_only_its_month(published, published_db, tmp_path):
    landing, env, _ = published
    # June 2024 is being delivered: its file is there, its marker not yet.
    source = next((landing / "hrss").glob("2023-*/*证书发放*.csv"))
    text = source.read_bytes().decode("utf-8-sig")

    def deliver(period: str, certificate_prefix: str) -> Path:
        folder = landing / "hrss" / period
        folder.mkdir()
        # new certificate numbers, so the bytes (and keys) are new
        body = text.replace("S2023-", certificate_prefix)
        (folder / source.name.replace(source.parent.name, period)).write_bytes(body.encode("utf-8-sig"))
        return folder

    june = deliver("2024-06", "S2024-")
    july = deliver("2024-07", "S2025-")
    (july / "_DELIVERED").write_text("test\n")
    before = {r[0] for r in manifest(published_db)}

    _, airflow_env = airflow_for({**env, "GOVKPI_DELIVERY_DEADLINE_HOURS": "1000000"})
    log_file = tmp_path / "dags-test.log"
    with log_file.open("w") as out:
        proc = subprocess.Popen(
            [orchestrate._airflow(), "dags", "test", DAG_ID, run_after("2024-06").isoformat()],
            env=airflow_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 240
            while "waiting for" not in log_file.read_text(errors="replace"):
                assert proc.poll() is None, log_file.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the task never started waiting"
                time.sleep(0.5)
            time.sleep(2)
            # still waiting, nothing loaded, while the marker is missing
            assert proc.poll() is None
            assert {r[0] for r in manifest(published_db)} == before
            (june / "_DELIVERED").write_text("test\n")
            assert proc.wait(timeout=240) == 0, log_file.read_text(errors="replace")[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_file.read_text(errors="replace")
    assert "deferred" in text.lower(), "the wait must be a deferral, not a sleeping worker"
    # Resumed from the trigger's event on the first try, not failed and retried.
    assert "Task failed with exception" not in text, text[-3000:]
    with sqlite3.connect(Path(airflow_env["AIRFLOW_HOME"]) / "airflow.db") as meta:
        tries = meta.execute(
            "select try_number, state from task_instance where dag_id = ? and task_id = 'wait_for_delivery' "
            "and run_id = (select run_id from dag_run where dag_id = ? order by id desc limit 1)",
            (DAG_ID, DAG_ID),
        ).fetchone()
    assert tuple(tries) == (1, "success"), tries
    new = [r for r in manifest(published_db) if r[0] not in before]
    # exactly June's file: July's delivery, complete as it is, belongs to another interval
    assert [(r[2], r[5]) for r in new] == [("2024-06", "loaded")], new
