"""Benchmark: the warehouse DAG against a bare `dbt build`, and a one-month incremental run against a full rebuild.

One run, one PostgreSQL server, the bundled 2023 sample deliveries, two
comparisons, each a ratio of wall times measured in the same run (house
style rule 20; nothing here asserts a time):

1. **DAG vs bare dbt.** On a warehouse holding the whole year, with the
   dbt build schema dropped before each measurement so both do the same
   full build:
   - *bare*: `dbt build` of the project, as a developer runs it
     (`govkpi.transform.run_dbt`, a subprocess);
   - *DAG*: a run of `govkpi_warehouse` under `airflow dags test` (the
     raw check, the one build task with its docs, the GX gate, publish and
     document), in the Airflow process that has just run an ingest DAG, as
     `govkpi run` runs it; each task's own duration is read from Airflow's
     metadata so the overhead is visible;
   - *own process*: the same run as a one-off `airflow dags test` process,
     timed around the whole process (Airflow's start-up included).
2. **Incremental vs full.** Months 1-11 are loaded and built; then
   December is loaded and timed as an incremental `dbt build` (the six
   incremental facts add December's files only); then `dbt build
   --full-refresh` over the same data. The per-model execution times of the
   incremental facts (dbt's run_results) are reported too: at sample size
   dbt's fixed start-up dominates the wall time, the model times show the
   part that grows with the data.

Run: `.venv/bin/python benchmarks/warehouse_benchmark.py [--repeat 3] [--warehouse-url URL]`
(without `--warehouse-url` an embedded PostgreSQL is started and deleted).
Results go to `benchmarks/out/warehouse-<UTC timestamp>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "benchmarks" / "out"
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from ingest_benchmark import server_facts, warehouse  # noqa: E402

from ingestion.specs import DEPARTMENTS  # noqa: E402

log = logging.getLogger("warehouse_benchmark")
MONTHS = [f"2023-{m:02d}" for m in range(1, 13)]
INCREMENTAL_FACTS = (
    "fct_training_enrolment", "fct_inpatient_stay", "fct_remote_reading",
    "fct_expert_round", "fct_medical_aid_payment", "fct_enforcement_case",
)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def fresh_database(admin_url: str) -> str:
    name = f"govkpi_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def configure(url: str, state: Path) -> None:
    """govkpi's settings for this process and its children."""
    os.environ.update(
        {
            "GOVKPI_WAREHOUSE_URL": url,
            "GOVKPI_STATE_DIR": str(state),
            "GOVKPI_LANDING_DIR": str(ROOT / "sample_data"),
            "GOVKPI_PSEUDONYM_KEY": "benchmark-key-" + "0123456789abcdef" * 2,
        }
    )


def load(periods: list[str]) -> None:
    from govkpi.pipeline import load_department
    from govkpi.settings import load_settings

    settings = load_settings()
    for department in DEPARTMENTS:
        load_department(settings, department, periods=periods)


def dbt_build(url: str, *flags: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of a bare `dbt build` (the dbt command line, as a developer runs it) and each node's execution time.

    The raw tables are ensured first, untimed, as the DAG's build task does.
    """
    from govkpi.settings import load_settings
    from govkpi.transform import run_dbt
    from ingestion.ddl import ensure_schema
    from ingestion.specs import all_extracts

    settings = load_settings()
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_schema(conn, all_extracts())
    start = time.perf_counter()
    result = run_dbt(settings, url, ["build", *flags])
    seconds = time.perf_counter() - start
    results = json.loads((result.target_path / "run_results.json").read_text())
    nodes = {r["unique_id"].split(".")[-1]: float(r.get("execution_time") or 0) for r in results["results"] if r["unique_id"].startswith("model.")}
    return seconds, nodes


def drop_build_schemas(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in ("marts_audit", "intermediate", "staging", "reference"):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def warehouse_dag(*, warm: bool) -> tuple[float, dict[str, float], str]:
    """Wall seconds of one run of the warehouse DAG (`airflow dags test`), each task's duration, and the run's state.

    Cold: the run in an Airflow process of its own, timed around the whole
    process (a developer's one-off `airflow dags test`: interpreter, Airflow's
    imports and its in-process execution API included). Warm: the run in
    the Airflow process that has just run an ingest DAG, as `govkpi run`
    runs it (docs/adr/0015), timed from the end of that run to its own end;
    the ingest run finds nothing new to load.
    """
    from govkpi import orchestrate
    from govkpi.settings import load_settings

    settings = load_settings()
    env = orchestrate.airflow_env(settings, {})
    orchestrate.ensure_metadata_db(settings, env)
    requests = [orchestrate.DagRunRequest(orchestrate.WAREHOUSE_DAG)]
    if warm:
        requests.insert(0, orchestrate.DagRunRequest(orchestrate.INGEST_DAGS["hrss"], conf={"scope": "all"}))
    start = time.perf_counter()
    for result in orchestrate.run_dags(settings, env, requests):
        if result.dag_id != orchestrate.WAREHOUSE_DAG:
            if not result.ok:
                raise SystemExit(f"the warm-up run of {result.dag_id} ended {result.state}: {result.log_file}")
            start = time.perf_counter()
        elif warm:
            seconds = time.perf_counter() - start  # the warm run ends here; the process's exit is not its cost
    if not warm:
        seconds = time.perf_counter() - start
    return seconds, orchestrate.task_seconds(settings, orchestrate.WAREHOUSE_DAG, result.run_id), result.state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the DAG vs bare comparison (median reported)")
    parser.add_argument("--warehouse-url", help="PostgreSQL admin URL (creates and drops its own databases); default: embedded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    work = Path(tempfile.mkdtemp(prefix="govkpi-warehouse-bench-"))
    load_before = os.getloadavg()[0]
    with warehouse(args.warehouse_url, work) as (admin_url, where):
        facts = {**server_facts(admin_url), "where": where}

        # 2. incremental vs full (first: it needs a warehouse without December)
        url = fresh_database(admin_url)
        try:
            configure(url, work / "state-incremental")
            load(MONTHS[:11])
            dbt_build(url)  # the first, full build of January..November: not timed
            load(MONTHS[11:])
            incremental_seconds, incremental_nodes = dbt_build(url)
            full_seconds, full_nodes = dbt_build(url, "--full-refresh")
        finally:
            drop_database(admin_url, url)

        # 1. warehouse DAG vs bare dbt build, on the whole year
        url = fresh_database(admin_url)
        bare: list[float] = []
        dag: list[float] = []
        cold: list[float] = []
        dag_tasks: list[dict[str, float]] = []
        try:
            configure(url, work / "state-dag")
            load(MONTHS)
            for _ in range(args.repeat):
                drop_build_schemas(url)
                seconds, _ = dbt_build(url)
                bare.append(seconds)
                for warm, into in ((True, dag), (False, cold)):
                    drop_build_schemas(url)
                    seconds, tasks, state = warehouse_dag(warm=warm)
                    if state != "success":
                        raise SystemExit(f"the warehouse DAG ended {state}; see the logs under {work / 'state-dag'}")
                    into.append(seconds)
                    if warm:
                        dag_tasks.append(tasks)
        finally:
            drop_database(admin_url, url)

    bare_median, dag_median, cold_median = statistics.median(bare), statistics.median(dag), statistics.median(cold)
    last_tasks = dag_tasks[-1]
    inc_facts = sum(incremental_nodes.get(m, 0) for m in INCREMENTAL_FACTS)
    full_facts = sum(full_nodes.get(m, 0) for m in INCREMENTAL_FACTS)
    ratios = {
        "dag_over_bare_dbt_build": dag_median / bare_median,
        "cold_dag_process_over_bare_dbt_build": cold_median / bare_median,
        "incremental_over_full_refresh_wall": incremental_seconds / full_seconds,
        "incremental_over_full_refresh_incremental_facts": inc_facts / full_facts if full_facts else float("nan"),
    }
    task_list = ", ".join(f"{task} {seconds:.1f} s" for task, seconds in last_tasks.items())
    lines = [
        f"PostgreSQL {facts['server_version']} ({where}); {os.cpu_count()} CPUs; sample data, 2023; "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        "",
        f"bare dbt build (full)            {bare_median:8.1f} s   (runs: {', '.join(f'{s:.1f}' for s in bare)})",
        f"warehouse DAG run (warm)         {dag_median:8.1f} s   (runs: {', '.join(f'{s:.1f}' for s in dag)})",
        f"  its tasks: {task_list}; Airflow between and around them "
        f"{max(dag[-1] - sum(last_tasks.values()), 0):.1f} s",
        f"airflow dags test, own process   {cold_median:8.1f} s   (runs: {', '.join(f'{s:.1f}' for s in cold)})",
        f"DAG run / bare dbt build         = {ratios['dag_over_bare_dbt_build']:.2f}",
        f"own process / bare dbt build     = {ratios['cold_dag_process_over_bare_dbt_build']:.2f}",
        "",
        f"one-month incremental dbt build  {incremental_seconds:8.1f} s  (six incremental facts: {inc_facts:.2f} s)",
        f"full rebuild (--full-refresh)    {full_seconds:8.1f} s  (six incremental facts: {full_facts:.2f} s)",
        f"incremental / full, wall         = {ratios['incremental_over_full_refresh_wall']:.2f}",
        f"incremental / full, the facts    = {ratios['incremental_over_full_refresh_incremental_facts']:.2f}",
    ]
    print("\n".join(lines))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"warehouse-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "facts": facts,
                "bare_seconds": bare,
                "dag_seconds": dag,
                "cold_dag_process_seconds": cold,
                "dag_tasks": dag_tasks,
                "incremental_seconds": incremental_seconds,
                "full_refresh_seconds": full_seconds,
                "incremental_nodes": incremental_nodes,
                "full_refresh_nodes": full_nodes,
                "ratios": ratios,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
