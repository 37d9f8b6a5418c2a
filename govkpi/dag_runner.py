"""Run several DAG runs with Airflow's own `airflow dags test`, one after another, in one process.

`govkpi.orchestrate.run_dags` starts this module as a child process with
the local Airflow's environment (`python -m govkpi.dag_runner REQUESTS.json`)
and reads one JSON line per finished run from its standard output.

Each run is exactly what `airflow dags test DAG_ID DATE [--conf ...]` does:
the same argument parser and the same command function of Airflow's CLI,
called once per run. What one process saves is Airflow's start-up, paid
once instead of once per DAG: importing Airflow and its providers, and the
in-process execution API that `dags test` serves tasks from (together 5
to 7 s per run on 2 cores; docs/adr/0015). Each run's output (Airflow's
log and the tasks' logs) goes to that run's own log file, as with one
process per run.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path


@contextmanager
def _output_to(log_file: Path) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 (Airflow's handlers included) to `log_file`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main(argv: list[str] | None = None) -> int:
    """Run the requests in order; stop after a failed run unless told to go on."""
    [requests_file] = argv if argv is not None else sys.argv[1:]
    request = json.loads(Path(requests_file).read_text())
    # Results go to the real standard output; fd 1 is redirected per run.
    results = os.fdopen(os.dup(1), "w", buffering=1)

    # Modules the runs will need that are slow to import (Great Expectations
    # for the warehouse DAG's gate): imported on the side while the first
    # runs go, as a Celery worker preloads them (ADR 0013). A module a task
    # imports while this is under way waits for it (Python's import lock);
    # a failure here is the task's to report when it imports the module.
    for module in request.get("preload", []):
        threading.Thread(target=_preload, args=(module,), name=f"preload-{module}", daemon=True).start()

    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for run in request["runs"]:
        command = ["dags", "test", run["dag_id"], run["logical_date"]]
        if run.get("conf"):
            command += ["--conf", json.dumps(run["conf"])]
        code = 0
        with _output_to(Path(run["log_file"])):
            try:
                args = parser.parse_args(command)
                args.func(args)
            except SystemExit as exit_:  # `dags test` exits 1 for a failed run
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception:  # noqa: BLE001 - a run that could not start; its traceback is in its log
                import traceback

                traceback.print_exc()
                code = 1
        results.write(json.dumps({"dag_id": run["dag_id"], "returncode": code}) + "\n")
        if code != 0 and request.get("stop_on_failure", True):
            break
    results.close()
    return 0


def _preload(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - the task that needs it imports it again and fails there, in its own log
        pass


def _exit(code: int) -> None:
    """End the process without the interpreter's teardown, after everything a normal exit runs for others.

    Freeing the modules of Airflow, FastAPI, SQLAlchemy and the rest one by
    one took 2 to 5 s at the end of every local run, and nobody waits for
    it to be useful: the runs are over and their results reported. As
    multiprocessing does for its children, the process joins its threads
    (OpenLineage's emitters among them) and runs the atexit handlers
    (logging's flush and close among them), then leaves with `os._exit`.
    """
    import atexit
    import threading

    sys.stdout.flush()
    sys.stderr.flush()
    threading._shutdown()  # noqa: SLF001 - what a normal exit runs first: waits for non-daemon threads
    atexit._run_exitfuncs()  # noqa: SLF001
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
