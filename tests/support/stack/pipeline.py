"""Running the pipeline through the distributed stack's REST API, and reading what it did.

The pipeline helpers (`run_one_shot`, `backfill_year`, `wait_for_publication`,
...) are what `tests/stack/test_distributed.py` and `scripts/distributed check` use.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .api import AirflowApi, ApiError
from .supervisor import ALL_DAGS, INGEST_DAGS, WAREHOUSE_DAG, DistributedStack

# The DAGs' time zone: backfill dates are calendar dates there.
DAG_TIMEZONE = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

_ACTIVE_RUN_STATES = ("queued", "running")
_PROBLEM_TI_STATES = ("failed", "up_for_retry", "upstream_failed")


class PipelineFailed(AssertionError):
    """A DAG run failed or did not finish in time; the message names the tasks and shows their logs' ends."""


# --------------------------------------------------------------------------
# running the pipeline through the API
# --------------------------------------------------------------------------


@dataclass
class Publication:
    publication_id: int
    airflow_run_id: str | None
    file_ids: list[int]
    published_at: dt.datetime


@dataclass
class PipelineOutcome:
    """What a pipeline run through the stack did: runs, the publication, where tasks ran, how long."""

    ingest_runs: dict[str, list[str]]
    publication: Publication
    warehouse_runs: list[dict]
    hosts: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def unpause_all(api: AirflowApi, dag_ids: Sequence[str] = ALL_DAGS) -> None:
    for dag_id in dag_ids:
        api.unpause(dag_id)


def trigger_ingests(api: AirflowApi, conf: dict | None = None, dag_ids: Iterable[str] = INGEST_DAGS.values()) -> dict[str, list[str]]:
    """One manual run of each ingest DAG; their run ids."""
    return {dag_id: [api.trigger(dag_id, conf=conf)["dag_run_id"]] for dag_id in dag_ids}


def dag_date(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the DAGs' time zone (backfill ranges are dates there, not in UTC)."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=DAG_TIMEZONE)


def create_backfill(
    stack: DistributedStack,
    api: AirflowApi,
    dag_id: str,
    from_date: dt.date,
    to_date: dt.date,
    *,
    via: str = "cli",
    max_active_runs: int = 1,
    conf: dict | None = None,
) -> int:
    """A backfill of `dag_id` over [from_date, to_date] (dates in Asia/Shanghai); its id.

    via "cli": `airflow backfill create --dag-id ... --from-date ... --to-date ...`,
    as an operator would run it; via "api": POST /api/v2/backfills. Both get
    the dates as Shanghai midnights: a bare `--from-date 2023-01-01` is UTC
    midnight, after the first monthly interval's start (2022-12-31T16:00Z),
    which would leave January out.
    """
    start, end = dag_date(from_date), dag_date(to_date)
    if via == "api":
        return int(api.create_backfill(dag_id, start, end, conf=conf, max_active_runs=max_active_runs)["id"])
    before = {b["id"] for b in api.backfills(dag_id)}
    args = ["backfill", "create", "--dag-id", dag_id, "--from-date", start.isoformat(), "--to-date", end.isoformat(),
            "--max-active-runs", str(max_active_runs)]
    if conf:
        args += ["--dag-run-conf", json.dumps(conf)]
    proc = stack.airflow(*args)
    if proc.returncode != 0:
        raise PipelineFailed(f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    new = [b for b in api.backfills(dag_id) if b["id"] not in before]
    if len(new) != 1:
        raise PipelineFailed(f"airflow backfill create for {dag_id} created {len(new)} backfills:\n{proc.stdout[-2000:]}")
    return int(new[0]["id"])


def backfill_runs(stack: DistributedStack, backfill_id: int) -> list[dict]:
    """The DAG runs of a backfill (metadata database: the API's run listing does not name the backfill)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(stack.metadata_url, row_factory=dict_row) as conn:
        return conn.execute(
            "select dr.dag_id, dr.run_id, dr.state, dr.data_interval_start, dr.data_interval_end, bdr.exception_reason "
            "from backfill_dag_run bdr left join dag_run dr on dr.id = bdr.dag_run_id "
            "where bdr.backfill_id = %s order by bdr.sort_ordinal",
            (backfill_id,),
        ).fetchall()


def backfill_year(
    stack: DistributedStack,
    api: AirflowApi,
    year: int,
    dag_ids: Iterable[str] = INGEST_DAGS.values(),
    *,
    via: str = "cli",
) -> dict[str, int]:
    """Backfill every ingest DAG over the calendar year, interval by interval; backfill id per DAG.

    The backfills are created at once (each `airflow backfill create` is its
    own process), so the departments' months load side by side.
    """
    from concurrent.futures import ThreadPoolExecutor

    def create(dag_id: str) -> int:
        own = AirflowApi(api.base_url, api.username, api.password)  # a client per thread
        try:
            return create_backfill(stack, own, dag_id, dt.date(year, 1, 1), dt.date(year, 12, 31), via=via)
        finally:
            own.close()

    dag_ids = list(dag_ids)
    with ThreadPoolExecutor(max_workers=len(dag_ids)) as pool:
        futures = {dag_id: pool.submit(create, dag_id) for dag_id in dag_ids}
    return {dag_id: future.result() for dag_id, future in futures.items()}


def wait_for_backfills(
    stack: DistributedStack, api: AirflowApi, backfills: dict[str, int], *, deadline: float, poll: float = 3.0
) -> dict[str, list[str]]:
    """Until every backfill has completed with all its runs successful; the run ids per DAG."""
    while True:
        stack.check_components()
        done = {dag_id: api.backfill(bid).get("completed_at") is not None for dag_id, bid in backfills.items()}
        runs = {dag_id: backfill_runs(stack, bid) for dag_id, bid in backfills.items()}
        failed = {d: [r for r in rs if r["state"] == "failed"] for d, rs in runs.items()}
        if any(failed.values()):
            raise PipelineFailed(
                "backfill runs failed: "
                + ", ".join(f"{d} {r['run_id']}" for d, rs in failed.items() for r in rs)
                + "\n\n" + failure_report(stack, api, {d: [r["run_id"] for r in rs] for d, rs in failed.items()})
            )
        if all(done.values()):
            not_ok = [f"{d} {r['run_id']}: {r['state'] or r['exception_reason']}" for d, rs in runs.items() for r in rs if r["state"] != "success"]
            if not_ok:
                raise PipelineFailed("backfills completed with runs that did not succeed:\n" + "\n".join(not_ok))
            return {d: [r["run_id"] for r in rs] for d, rs in runs.items()}
        if time.monotonic() > deadline:
            progress = {d: Counter(r["state"] for r in rs) for d, rs in runs.items()}
            raise PipelineFailed(
                f"backfills not finished in time: {progress}\n\n"
                + failure_report(stack, api, {d: [r["run_id"] for r in rs if r["run_id"]] for d, rs in runs.items()})
            )
        time.sleep(poll)


def wait_for_runs(
    stack: DistributedStack, api: AirflowApi, runs: dict[str, list[str]], *, deadline: float, poll: float = 2.0
) -> None:
    """Until the given DAG runs succeed; a failed one fails at once, with its failed tasks' log tails."""
    while True:
        stack.check_components()
        states = {(d, r): api.dag_run(d, r)["state"] for d, rs in runs.items() for r in rs}
        failed = [k for k, s in states.items() if s == "failed"]
        if failed:
            raise PipelineFailed(
                "DAG runs failed: " + ", ".join(f"{d} {r}" for d, r in failed) + "\n\n"
                + failure_report(stack, api, {d: [r for dd, r in failed if dd == d] for d, _ in failed})
            )
        if all(s == "success" for s in states.values()):
            return
        if time.monotonic() > deadline:
            pending = ", ".join(f"{d} {r}: {s}" for (d, r), s in states.items() if s != "success")
            raise PipelineFailed(f"DAG runs not finished in time: {pending}\n\n" + failure_report(stack, api, runs))
        time.sleep(poll)


def latest_publication(warehouse_url: str) -> Publication | None:
    import psycopg

    with psycopg.connect(warehouse_url) as conn:
        if conn.execute("select to_regclass('audit.publication') is null").fetchone()[0]:
            return None
        row = conn.execute(
            "select publication_id, airflow_run_id, file_ids, published_at from audit.publication "
            "order by publication_id desc limit 1"
        ).fetchone()
    return Publication(row[0], row[1], list(row[2]), row[3]) if row else None


def loaded_file_ids(warehouse_url: str) -> list[int]:
    """Files whose rows are in raw now (loaded, not superseded): what a complete publication covers."""
    import psycopg

    with psycopg.connect(warehouse_url) as conn:
        if conn.execute("select to_regclass('audit.load_manifest') is null").fetchone()[0]:
            return []
        return [
            r[0]
            for r in conn.execute(
                "select file_id from audit.load_manifest where status = 'loaded' and superseded_by_file_id is null order by file_id"
            ).fetchall()
        ]


def wait_for_publication(
    stack: DistributedStack, api: AirflowApi, *, deadline: float, since_publication: int = 0, poll: float = 3.0
) -> tuple[Publication, list[dict]]:
    """Until the warehouse DAG has published everything loaded and nothing more is pending.

    Done when no govkpi DAG run is queued or running, no Asset event waits
    for the warehouse DAG, and the latest row of audit.publication (newer
    than `since_publication`) covers every file loaded in raw. Returns it
    with the warehouse DAG's runs. A settled state without such a
    publication fails, showing the failed tasks' log tails.
    """
    while True:
        stack.check_components()
        active = [r for r in api.dag_runs("~") if r["dag_id"] in ALL_DAGS and r["state"] in _ACTIVE_RUN_STATES]
        queued_events = api.queued_asset_events(WAREHOUSE_DAG)
        publication = latest_publication(stack.warehouse_url)
        loaded = loaded_file_ids(stack.warehouse_url)
        covered = (
            publication is not None
            and publication.publication_id > since_publication
            and bool(loaded)
            and sorted(publication.file_ids) == loaded
        )
        settled = not active and not queued_events
        if settled and covered:
            return publication, api.dag_runs(WAREHOUSE_DAG)
        if settled and not covered:
            # The scheduler may be about to create the run for a just-queued event: look twice.
            time.sleep(poll)
            if api.dag_runs("~", state=list(_ACTIVE_RUN_STATES)) or api.queued_asset_events(WAREHOUSE_DAG):
                continue
            publication = latest_publication(stack.warehouse_url)
            loaded = loaded_file_ids(stack.warehouse_url)
            if publication and publication.publication_id > since_publication and loaded and sorted(publication.file_ids) == loaded:
                continue
            runs = api.dag_runs(WAREHOUSE_DAG)
            raise PipelineFailed(
                f"the warehouse DAG stopped without publishing the {len(loaded)} loaded files "
                f"(latest publication: {publication.publication_id if publication else 'none'}; warehouse runs: "
                + (", ".join(f"{r['dag_run_id']}={r['state']}" for r in runs) or "none")
                + ")\n\n" + failure_report(stack, api, {WAREHOUSE_DAG: [r["dag_run_id"] for r in runs]})
            )
        if time.monotonic() > deadline:
            raise PipelineFailed(
                "no publication in time: "
                + (", ".join(f"{r['dag_id']} {r['dag_run_id']}={r['state']}" for r in active) or "no run active")
                + f"; queued Asset events for {WAREHOUSE_DAG}: {len(queued_events)}; latest publication "
                + f"{publication.publication_id if publication else 'none'} covers {len(publication.file_ids) if publication else 0}"
                + f" of {len(loaded)} loaded files\n\n"
                + failure_report(stack, api, {r["dag_id"]: [r["dag_run_id"]] for r in active})
            )
        time.sleep(poll)


def run_one_shot(
    stack: DistributedStack,
    api: AirflowApi,
    *,
    timeout: float = 600,
    conf: dict | None = None,
    dag_ids: Iterable[str] = INGEST_DAGS.values(),
) -> PipelineOutcome:
    """The one-shot load through the REST API: unpause, trigger the ingest DAGs, wait for the publication.

    The ingest runs get conf {"scope": "all"}: every complete delivery in
    the landing folder, as `govkpi run` loads it. `dag_ids`: which ingest
    DAGs to trigger (all three by default).
    """
    started = time.monotonic()
    deadline = started + timeout
    before = latest_publication(stack.warehouse_url)
    unpause_all(api)
    runs = trigger_ingests(api, conf={"scope": "all"} if conf is None else conf, dag_ids=dag_ids)
    wait_for_runs(stack, api, runs, deadline=deadline)
    publication, warehouse_runs = wait_for_publication(
        stack, api, deadline=deadline, since_publication=before.publication_id if before else 0
    )
    return PipelineOutcome(runs, publication, warehouse_runs, task_hosts(api), time.monotonic() - started)


def run_backfill(
    stack: DistributedStack,
    api: AirflowApi,
    year: int,
    *,
    timeout: float = 1200,
    via: str = "cli",
    build_once: bool = True,
) -> PipelineOutcome:
    """The year backfilled month by month for every ingest DAG, then the publication waited for.

    build_once (an operator loading history): the warehouse DAG is paused
    while the backfills run, so their Asset events start no builds, then
    unpaused and triggered once through the REST API. Unpaused, it would
    build after the first months load, while the others are still loading:
    such a build fails the gate's raw-vs-marts reconciliation (raw changed
    under it; nothing is published) and costs a whole build. build_once=False
    leaves it to the Assets, as in the one-shot.
    """
    started = time.monotonic()
    deadline = started + timeout
    before = latest_publication(stack.warehouse_url)
    if build_once:
        api.pause(WAREHOUSE_DAG)
    unpause_all(api, [d for d in ALL_DAGS if not (build_once and d == WAREHOUSE_DAG)])
    backfills = backfill_year(stack, api, year, via=via)
    runs = wait_for_backfills(stack, api, backfills, deadline=deadline)
    if build_once:
        api.unpause(WAREHOUSE_DAG)
        api.trigger(WAREHOUSE_DAG)
    publication, warehouse_runs = wait_for_publication(
        stack, api, deadline=deadline, since_publication=before.publication_id if before else 0
    )
    return PipelineOutcome(runs, publication, warehouse_runs, task_hosts(api), time.monotonic() - started)


# --------------------------------------------------------------------------
# what ran where, what was published, what went wrong
# --------------------------------------------------------------------------


def task_hosts(api: AirflowApi, dag_ids: Sequence[str] = ALL_DAGS) -> Counter:
    """Task instances that ran, counted by the `hostname` they recorded (REST API)."""
    tis = [t for t in api.task_instances("~", "~") if t["dag_id"] in dag_ids and t.get("hostname")]
    return Counter(t["hostname"] for t in tis)


def task_hosts_by_dag(api: AirflowApi, dag_ids: Sequence[str] = ALL_DAGS) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for t in api.task_instances("~", "~"):
        if t["dag_id"] in dag_ids and t.get("hostname"):
            out.setdefault(t["hostname"], Counter())[t["dag_id"]] += 1
    return out


def published_kpis(warehouse_url: str) -> list[dict]:
    """Every row of marts.fct_kpi_value, JSON-typed as `govkpi kpi --json` prints them, in a fixed order."""
    import psycopg
    from psycopg.rows import dict_row

    from govkpi.cli import KPI_COLUMNS
    from govkpi.jsonvalues import json_value

    with psycopg.connect(warehouse_url, row_factory=dict_row) as conn:
        rows = conn.execute(f"select {', '.join(KPI_COLUMNS)} from marts.fct_kpi_value").fetchall()
    out = [{c: json_value(r[c]) for c in KPI_COLUMNS} for r in rows]
    return sorted(out, key=lambda r: tuple("" if r[c] is None else str(r[c]) for c in KPI_COLUMNS[:7]))


def kpi_differences(expected: list[dict], actual: list[dict], limit: int = 30) -> list[str]:
    """Rows of fct_kpi_value that differ between two publications (empty: the same values)."""
    from govkpi.cli import KPI_COLUMNS

    key_columns = KPI_COLUMNS[:7]

    def keyed(rows: list[dict]) -> dict[tuple, tuple]:
        return {tuple(r[c] for c in key_columns): tuple(r[c] for c in KPI_COLUMNS[7:]) for r in rows}

    a, b = keyed(expected), keyed(actual)
    out = [f"missing: {k} (expected value, numerator, denominator {a[k]})" for k in sorted(a.keys() - b.keys(), key=str)]
    out += [f"unexpected: {k} = {b[k]}" for k in sorted(b.keys() - a.keys(), key=str)]
    out += [f"differs: {k}: expected {a[k]}, got {b[k]}" for k in sorted(a.keys() & b.keys(), key=str) if a[k] != b[k]]
    if len(out) > limit:
        out = out[:limit] + [f"... and {len(out) - limit} more"]
    return out


def render_log(text: str, lines: int = 40) -> str:
    """The end of a task log, readable: Airflow 3 writes JSON lines (event, level, error detail)."""
    out: list[str] = []
    for raw in text.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            out.append(raw)
            continue
        if not isinstance(record, dict):
            out.append(raw)
            continue
        line = f"{record.get('timestamp', '')[:19]} {str(record.get('level', '')).upper():<7} {record.get('event', '')}"
        out.append(line.rstrip())
        for error in record.get("error_detail") or []:
            if isinstance(error, dict):
                out.append(f"    {error.get('exc_type')}: {error.get('exc_value')}")
                for frame in (error.get("frames") or [])[-3:]:
                    out.append(f"      at {frame.get('filename')}:{frame.get('lineno')} {frame.get('name')}")
    return "\n".join(out[-lines:])


def task_log_tail(stack: DistributedStack, dag_id: str, run_id: str, task_id: str, lines: int = 40) -> str:
    folder = stack.task_log_dir / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    attempts = sorted(folder.glob("**/attempt=*.log"), key=lambda p: p.stat().st_mtime)
    if not attempts:
        return f"(no task log under {folder})"
    return f"{attempts[-1]}:\n" + render_log(attempts[-1].read_text(errors="replace"), lines)


def failure_report(stack: DistributedStack, api: AirflowApi, runs: dict[str, list[str]], lines: int = 40) -> str:
    """The failed (or retrying) tasks of the given runs, each with the end of its log."""
    parts: list[str] = []
    for dag_id, run_ids in runs.items():
        for run_id in run_ids:
            try:
                tis = api.task_instances(dag_id, run_id)
            except ApiError as exc:
                parts.append(f"{dag_id} {run_id}: cannot list task instances ({exc})")
                continue
            states = Counter(str(t["state"]) for t in tis)
            unfinished = [f"{t['task_id']}={t['state']}" for t in tis if t["state"] not in ("success", "skipped")]
            summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
            shown = ", ".join(unfinished[:15]) + (f", ... ({len(unfinished) - 15} more)" if len(unfinished) > 15 else "")
            parts.append(f"{dag_id} {run_id}: {summary or 'no task instances yet'}" + (f"; not done: {shown}" if shown else ""))
            for t in tis:
                if t["state"] in _PROBLEM_TI_STATES:
                    parts.append(f"--- {dag_id} / {run_id} / {t['task_id']} ({t['state']}, host {t.get('hostname') or '-'})")
                    parts.append(task_log_tail(stack, dag_id, run_id, t["task_id"], lines))
    try:
        errors = [e for e in api.import_errors() if "govkpi" in e.get("filename", "")]
    except ApiError:
        errors = []
    for e in errors:
        # A DAG that does not import gets no runs (for example the warehouse
        # DAG when one of its imports fails).
        parts.append(f"DAG import error in {e['filename']}:\n{e['stack_trace'][-1500:]}")
    components = [f"{c.name}: {'running' if c.running() else 'stopped'} (log {c.log_path})" for c in stack.components]
    parts.append("components: " + "; ".join(components))
    return "\n".join(parts)
