"""scripts/distributed: the distributed stack from the command line (`up`, `check`; `--help`).

Run as `python -m support.stack` with tests/ on the path (scripts/distributed does).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from .pipeline import PipelineFailed, run_one_shot, task_hosts_by_dag
from .supervisor import (
    DEFAULT_PG_ADMIN_URL,
    DEFAULT_REDIS_URL,
    PG_ADMIN_URL_VAR,
    PROJECT_ROOT,
    REDIS_URL_VAR,
    DistributedStack,
    StackError,
    configured_pg_admin_url,
    configured_redis_url,
    unavailable_services,
)

def _print_kpi_summary(warehouse_url: str) -> None:
    from govkpi.cli import _print_summary

    _print_summary(warehouse_url)


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    stack = _stack_from_args(args)
    try:
        stack.start()
        info = stack.info()
        _say(
            f"""
The distributed stack is running (CeleryExecutor, {len(info.workers)} workers).

  UI and REST API   {info.api_url}   (log in as {info.username} / {info.password})
  token for the API curl -s -X POST {info.api_url}/auth/token -H 'Content-Type: application/json' \\
                      -d '{{"username": "{info.username}", "password": "{info.password}"}}'
  warehouse         {info.warehouse_url}
  Airflow metadata  {info.metadata_url}
  Celery broker     {info.broker_url} (queue {info.queue}); workers {', '.join(info.workers)}
  landing folder    {stack.landing_dir}
  logs              {info.log_dir}  (components' logs; task logs under tasks/)

DAGs start paused: unpause them in the UI, or run `scripts/distributed check` for the whole pipeline.
Stop with Ctrl-C: every process is stopped and both databases are dropped."""
        )
        while not stop_requested.wait(2):
            stack.check_components()
    except KeyboardInterrupt:
        pass
    except StackError as exc:
        _say(f"scripts/distributed: {exc}")
        return 1
    finally:
        _say("stopping the stack ...")
        stack.stop()
        _say("stopped; databases dropped")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    stack = _stack_from_args(args)
    started = time.monotonic()
    try:
        with stack:
            _say(f"stack ready in {stack.timings['start']:.0f} s at {stack.api_url}; triggering the ingest DAGs through the REST API")
            api = stack.api()
            outcome = run_one_shot(stack, api, timeout=args.timeout)
            _say(f"ingest runs: {', '.join(f'{d} {r[0]}' for d, r in outcome.ingest_runs.items())}")
            _say(
                f"published: audit.publication {outcome.publication.publication_id} by {outcome.publication.airflow_run_id} "
                f"({len(outcome.warehouse_runs)} warehouse run(s): {', '.join(r['state'] for r in outcome.warehouse_runs)})"
            )
            _say("task instances per worker (hostname):")
            for host, per_dag in sorted(task_hosts_by_dag(api).items()):
                _say(f"  {host}: {sum(per_dag.values())} ({', '.join(f'{d} {n}' for d, n in sorted(per_dag.items()))})")
            _print_kpi_summary(stack.warehouse_url)
            _say(f"\nstack start {stack.timings['start']:.0f} s; pipeline {outcome.seconds:.0f} s; total {time.monotonic() - started:.0f} s")
            hosts = set(outcome.hosts)
            if not (len(hosts) >= 2 and hosts <= set(stack.worker_names)):
                _say(f"tasks did not run on both workers: {dict(outcome.hosts)}")
                return 1
            return 0
    except (StackError, PipelineFailed) as exc:
        _say(f"scripts/distributed check: FAILED\n{exc}")
        return 1


def _stack_from_args(args: argparse.Namespace) -> DistributedStack:
    return DistributedStack(
        pg_admin_url=args.pg_admin_url,
        redis_url=args.redis_url,
        landing_dir=args.landing,
        workers=args.workers,
        worker_concurrency=args.concurrency,
        keep_files=args.keep,
        delivery_deadline_hours=getattr(args, "delivery_deadline_hours", None),
        say=lambda m: _say(f"  {m}"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/distributed",
        description="Run the compose file's distributed Airflow (CeleryExecutor) natively, against a PostgreSQL and a Redis.",
    )
    parser.add_argument("--pg-admin-url", default=configured_pg_admin_url(),
                        help=f"PostgreSQL whose user may create databases (default ${PG_ADMIN_URL_VAR} or {DEFAULT_PG_ADMIN_URL})")
    parser.add_argument("--redis-url", default=configured_redis_url(),
                        help=f"Redis for the Celery broker (default ${REDIS_URL_VAR} or {DEFAULT_REDIS_URL})")
    parser.add_argument("--landing", type=Path, default=PROJECT_ROOT / "sample_data", help="landing folder (default: the sample extracts)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks each worker runs at once (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) after stopping")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start and stay in the foreground until Ctrl-C").set_defaults(func=cmd_up)
    check = sub.add_parser("check", help="start, run the pipeline through the REST API, print the outcome, stop")
    check.add_argument("--timeout", type=float, default=600, help="seconds the pipeline may take (default 600)")
    check.add_argument(
        "--delivery-deadline-hours", type=float, default=0,
        help="GOVKPI_DELIVERY_DEADLINE_HOURS of the workers (default 0: the scheduler's own run for the latest month, "
             "which the sample landing folder never delivers, fails at once instead of waiting days for it)",
    )
    check.set_defaults(func=cmd_check)
    args = parser.parse_args(argv)
    problems = unavailable_services(args.pg_admin_url, args.redis_url)
    if problems:
        for p in problems:
            print(f"scripts/distributed: {p}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
