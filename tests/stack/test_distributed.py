"""The distributed deployment for real: Airflow on Celery, natively, driven through its REST API.

`support.stack` (tests/support/stack/) starts what docker-compose.yml describes, without
Docker: a fresh Airflow metadata database and a fresh warehouse on a real
PostgreSQL, Redis as the Celery broker, the api-server, scheduler,
dag-processor, triggerer and two Celery workers. The tests then work as an
operator would, through the REST API only: unpause the DAGs, trigger the
ingest DAGs, let the Assets schedule the warehouse DAG, wait for its
publication, and check what was published and which worker ran what.

Needs PostgreSQL 15+ at 127.0.0.1:5432 (user postgres, may create databases)
and Redis at 127.0.0.1:6379, or the servers named by GOVKPI_TEST_PG_ADMIN_URL
and GOVKPI_TEST_REDIS_URL. Without them the module is skipped, saying what is
missing, except under CI=true, where it fails: CI has both, and a skipped
distributed test must not pass for a green one there.

`scripts/distributed check` runs the same one-shot pipeline and prints it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
import support.stack as distributed
from conftest import openlineage_spec_dir, township_year
from support.stack import (
    INGEST_DAGS,
    WAREHOUSE_DAG,
    AirflowApi,
    DistributedStack,
    PipelineOutcome,
)

from govkpi.alerts import ALERT_PREFIX, read_alerts

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

# How long each pipeline may take once the stack runs. On a 2-core machine
# a warehouse run (a task per dbt model) takes 1.5 to 2 minutes; the
# one-shot (one department, one build) 2 to 3, the backfill 3 to 4.
ONE_SHOT_TIMEOUT = 600
BACKFILL_TIMEOUT = 600
# Tasks each Celery worker runs at once: the warehouse DAG has a task per
# dbt model, and more slots than cores keeps the cores busy while tasks
# wait on the api-server and the database.
WORKER_CONCURRENCY = 4

# The seed document's figures for 2023, as tests/e2e/test_pipeline.py checks them
# after `govkpi run` (the one-shot load through `airflow dags test`).
TOWNSHIP_YEAR_2023 = {
    ("hrss_training_classes", None): 12,
    ("hrss_trainees", None): 571,
    ("hrss_certificates", None): 524,
    ("hrss_certificate_rate_pct", None): 91.77,
    ("hrss_trainees_placed", "electrician"): 28,
    ("hrss_trainees_placed", "agronomy"): 185,
    ("health_open_beds", None): 95,
    ("health_wards", None): 48,
    ("enf_officers", None): 32,
    ("enf_squads", None): 3,
    ("enf_domains", None): 4,
}
TOWNSHIP_MONTHS_2023 = {
    ("health_open_beds", "2023-06-01"): 95,
    ("health_wards", "2023-06-01"): 48,
    ("health_open_beds", "2023-05-01"): 42,
    ("health_wards", "2023-05-01"): 20,
}
DEFINED_KPIS = 25
# Shorter than any warehouse run here (its dbt build alone takes 20 s or
# more), so the one-shot's run misses it and raises the alert.
WAREHOUSE_DEADLINE_MINUTES = 0.25

_timings: dict[str, float] = {}


def township_month(rows: list[dict], code: str, start: str) -> dict:
    [row] = [
        r
        for r in rows
        if r["kpi_code"] == code
        and r["period_grain"] == "month"
        and r["period_start_date"] == start
        and r["area_level"] == "township"
        and r["breakdown_member"] is None
    ]
    return row


@pytest.fixture(scope="module")
def servers() -> tuple[str, str]:
    """The PostgreSQL and Redis the stack runs against; skip (fail under CI=true) if either is missing."""
    pg_url, redis_url = distributed.configured_pg_admin_url(), distributed.configured_redis_url()
    problems = distributed.unavailable_services(pg_url, redis_url)
    if problems:
        message = "the distributed stack test cannot run: " + "; ".join(problems)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: CI machines have both servers, so this fails instead of skipping)")
        pytest.skip(message)
    return pg_url, redis_url


@pytest.fixture(scope="module")
def stack(servers: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[DistributedStack]:
    pg_url, redis_url = servers
    started = time.monotonic()
    failed_before = request.session.testsfailed
    stack = DistributedStack(
        pg_admin_url=pg_url,
        redis_url=redis_url,
        workers=2,
        worker_concurrency=WORKER_CONCURRENCY,
        # The scheduler's own run for the latest month (never delivered in the
        # sample landing folder) fails at once instead of waiting days for the
        # delivery, whatever the date: otherwise, in the first days of a month,
        # it would hold the manual runs behind max_active_runs=1.
        delivery_deadline_hours=0,
        # A warehouse run here takes 2 to 3 minutes: with a 1-minute deadline
        # every run misses it, and the deadline alert must reach alerts.jsonl.
        warehouse_deadline_minutes=WAREHOUSE_DEADLINE_MINUTES,
        keep_files=bool(os.environ.get("GOVKPI_KEEP_DISTRIBUTED")),
        say=lambda message: print(f"[distributed] {message}", flush=True),
    )
    try:
        stack.start()
        _timings.update({f"stack {k}": v for k, v in stack.timings.items()})
        yield stack
    finally:
        stop_started = time.monotonic()
        if request.session.testsfailed > failed_before:
            stack.keep_files = True  # the logs of what failed stay for a look
            print(f"[distributed] a test failed: logs kept in {stack.log_dir}", flush=True)
        stack.stop()
        _timings["stack stop"] = time.monotonic() - stop_started
        _timings["module total"] = time.monotonic() - started
        print("[distributed] timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in _timings.items()), flush=True)


@pytest.fixture(scope="module")
def api(stack: DistributedStack) -> Iterator[AirflowApi]:
    client = stack.api()
    yield client
    client.close()


@pytest.fixture(scope="module")
def one_shot(stack: DistributedStack, api: AirflowApi) -> tuple[PipelineOutcome, list[dict]]:
    """Unpause, trigger the HR & SS ingest DAG (scope "all") through the API, wait for the Asset-triggered publication.

    One department: its Asset event schedules one warehouse run. (With all
    three, each department's event queues a build behind max_active_runs=1,
    two builds of 1.5 to 2 minutes on this machine; all three departments go
    through Celery in the backfill below.)
    """
    outcome = distributed.run_one_shot(stack, api, timeout=ONE_SHOT_TIMEOUT, dag_ids=[INGEST_DAGS["hrss"]])
    _timings["one-shot pipeline"] = outcome.seconds
    print(f"[distributed] one-shot: {outcome.seconds:.0f} s, warehouse runs {len(outcome.warehouse_runs)}, "
          f"task instances per worker {dict(outcome.hosts)}", flush=True)
    return outcome, distributed.published_kpis(stack.warehouse_url)


def test_the_stack_is_what_compose_describes(stack: DistributedStack, api: AirflowApi):
    health = api.request("GET", "/api/v2/monitor/health")
    for job in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[job]["status"] == "healthy", health
    assert sorted(stack.ping_workers()) == sorted(stack.worker_nodes())
    config = stack.env()
    assert config["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert config["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert config["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    # Only the workers see govkpi's secrets, as in the compose file.
    assert "GOVKPI_PSEUDONYM_KEY" not in config and "GOVKPI_WAREHOUSE_URL" not in config
    # The API refuses requests without the token the auth manager issued.
    anonymous = AirflowApi(stack.api_url, "nobody", "wrong")
    with pytest.raises(distributed.ApiError) as refused:
        anonymous.login()
    assert refused.value.status == 401
    anonymous.close()


def check_2023_figures(published: list[dict], departments: tuple[str, ...] = ("hrss", "health", "enf")) -> None:
    """The seed document's 2023 figures of `departments` (KPI code prefixes), as tests/e2e/test_pipeline.py checks them."""
    # 2023's rows, as `govkpi kpi --year 2023` gives them to tests/e2e/test_pipeline.py
    # (some enforcement cases opened in late 2022).
    rows = [r for r in published if r["period_start_date"].startswith("2023-")]
    checked = 0
    for (code, member), value in TOWNSHIP_YEAR_2023.items():
        if code.startswith(departments):
            row = township_year(rows, code, member)
            assert row["value"] == value, (code, member, row)
            checked += 1
    assert checked >= 6
    if "hrss" in departments:
        rate = township_year(rows, "hrss_certificate_rate_pct")
        assert (rate["numerator"], rate["denominator"]) == (524, 571)
    for (code, start), value in TOWNSHIP_MONTHS_2023.items():
        if code.startswith(departments):
            assert township_month(rows, code, start)["value"] == value, (code, start)
    if departments == ("hrss", "health", "enf"):
        assert len({r["kpi_code"] for r in rows}) == DEFINED_KPIS


def test_one_shot_publishes_the_2023_kpis_through_celery(one_shot):
    _, published = one_shot
    check_2023_figures(published, ("hrss",))
    # Only HR & SS delivered: the other departments' KPIs are not published yet.
    assert {r["kpi_code"].split("_")[0] for r in published} == {"hrss"}


def test_the_assets_scheduled_the_warehouse_dag_that_published(one_shot, stack: DistributedStack):
    outcome, _ = one_shot
    assert set(outcome.ingest_runs) == {INGEST_DAGS["hrss"]}
    assert outcome.warehouse_runs and all(r["run_type"] == "asset_triggered" for r in outcome.warehouse_runs)
    assert outcome.publication.airflow_run_id in {r["dag_run_id"] for r in outcome.warehouse_runs}
    with psycopg.connect(stack.warehouse_url) as conn:
        dag_id, published = conn.execute(
            "select airflow_dag_id, count(*) over () from audit.publication where publication_id = %s",
            (outcome.publication.publication_id,),
        ).fetchone()
    assert dag_id == WAREHOUSE_DAG and published == 1


def test_tasks_ran_on_both_celery_workers(one_shot, stack: DistributedStack, api: AirflowApi):
    outcome, _ = one_shot
    hosts = distributed.task_hosts(api)
    by_host = distributed.task_hosts_by_dag(api)
    print(f"[distributed] task instances per worker: {dict(hosts)}; per worker and DAG: "
          f"{ {h: dict(c) for h, c in by_host.items()} }", flush=True)
    assert len(hosts) >= 2, f"tasks ran on {dict(hosts)} only"
    assert set(hosts) <= set(stack.worker_names), f"hosts {set(hosts)} are not the workers {stack.worker_names}"
    # Every task went through this stack's Celery queue.
    tis = [t for t in api.task_instances("~", "~") if t["dag_id"] in distributed.ALL_DAGS and t.get("hostname")]
    assert Counter(t["queue"] for t in tis) == Counter({stack.queue: len(tis)})


def test_a_warehouse_run_past_its_deadline_raises_an_alert(one_shot, stack: DistributedStack):
    """Airflow's deadline alert on the warehouse DAG: the scheduler notices, the triggerer runs govkpi's callback."""
    outcome, _ = one_shot
    warehouse_runs = {r["dag_run_id"] for r in outcome.warehouse_runs}
    waited_until = time.monotonic() + 120  # the callback runs in the triggerer, shortly after the scheduler's check
    while True:
        alerts = [a for a in read_alerts(stack.state_dir / "alerts") if a["kind"] == "deadline_missed"]
        if alerts or time.monotonic() > waited_until:
            break
        time.sleep(2)
    assert alerts, f"no deadline_missed alert in {stack.state_dir / 'alerts'}; triggerer log: {stack.log_dir / 'triggerer.log'}"
    for alert in alerts:
        assert alert["dag_id"] == WAREHOUSE_DAG, alert
        assert alert["run_id"] in warehouse_runs, (alert, warehouse_runs)
        assert f"within {WAREHOUSE_DEADLINE_MINUTES} minutes" in alert["summary"], alert
        assert alert["deadline_time"], alert
    triggerer_log = (stack.log_dir / "triggerer.log").read_text(errors="replace")
    assert ALERT_PREFIX + '{"kind": "deadline_missed"' in triggerer_log


def test_the_workers_wrote_openlineage_events_for_the_build(one_shot, stack: DistributedStack):
    """Compose's default transport, on Celery: task events, and per-node dbt events with column lineage."""
    from govkpi import openlineage as ol

    events = list(ol.read_events(ol.event_files(ol.events_dir(stack.state_dir))))
    build = f"{WAREHOUSE_DAG}.build_audit"
    build_runs, children = ol.child_completes((e for _, e in events), build)
    assert build_runs, f"no COMPLETE event of {build} in {ol.events_dir(stack.state_dir)}"
    kpi_fact = [
        e
        for e in children
        if any(o["name"].endswith(".marts_audit.fct_kpi_value") and "columnLineage" in o.get("facets", {}) for o in e.get("outputs", []))
    ]
    assert kpi_fact, "no dbt event with column lineage for fct_kpi_value, child of the build task"
    spec = openlineage_spec_dir()
    if spec is not None:  # tests/e2e/test_openlineage.py skips, saying why, where the schemas are absent
        validator = ol.SpecValidator(spec)
        invalid = [p for path, e in events for p in validator.errors(path, e)]
        assert not invalid, "\n".join(map(str, invalid[:10]))


def test_backfill_2023_month_by_month_publishes_what_the_one_shot_did(
    one_shot, stack: DistributedStack, api: AirflowApi, sample_publication
):
    """`airflow backfill create` of 2023 for each ingest DAG, on an empty warehouse: the same KPIs as the one-shot.

    The one-shot is the session's `govkpi run` of the same sample deliveries
    (every department loaded in one go, conftest `sample_publication`); the
    backfill publishes all three departments' 2023 through Celery.

    Each DAG's backfill loads the months one run at a time, in order. The
    warehouse DAG is paused meanwhile and triggered once at the end
    (`run_backfill(build_once=True)`): the Asset-driven builds are the
    one-shot's subject, and a build overlapping the loads only fails its
    reconciliation gate and costs minutes.
    """
    one_shot_rows = distributed.published_kpis(sample_publication.url)
    # Dry run first (REST API): twelve monthly intervals, January to December.
    for dag_id in INGEST_DAGS.values():
        planned = api.backfill_dry_run(dag_id, distributed.dag_date(dt.date(2023, 1, 1)), distributed.dag_date(dt.date(2023, 12, 31)))
        starts = [dt.datetime.fromisoformat(p["logical_date"]).astimezone(distributed.DAG_TIMEZONE) for p in planned]
        assert [(s.year, s.month, s.day, s.hour) for s in starts] == [(2023, m, 1, 0) for m in range(1, 13)], planned
    stack.reset_warehouse()
    outcome = distributed.run_backfill(stack, api, 2023, timeout=BACKFILL_TIMEOUT, via="cli")
    _timings["backfill pipeline"] = outcome.seconds
    for dag_id, run_ids in outcome.ingest_runs.items():
        assert len(run_ids) == 12, (dag_id, run_ids)
    assert outcome.publication.airflow_run_id.startswith("manual__"), outcome.publication
    backfilled = distributed.published_kpis(stack.warehouse_url)
    check_2023_figures(backfilled)
    differences = distributed.kpi_differences(one_shot_rows, backfilled)
    assert not differences, "the backfill published other KPI values than the one-shot:\n" + "\n".join(differences)
