"""The distributed deployment, natively: what docker-compose.yml runs, as processes of this venv.

`DistributedStack` starts, on the machine and without Docker, the Airflow 3
installation the compose file describes:

- a fresh Airflow metadata database and a fresh warehouse database on a
  PostgreSQL server you name (unique names, dropped at stop);
- Redis as the Celery broker (a database number of it, and a task queue and
  worker names of this stack's own, so stacks sharing one Redis never take
  each other's tasks);
- `airflow db migrate`, the admin user (FAB auth manager, as in compose), the
  pool the DAGs use, the warehouse preparation `airflow-init` does
  (`docker/prepare_warehouse.py`: raw and audit tables, BI group role);
- api-server, scheduler, dag-processor, triggerer and two Celery workers.

Everything is configured by environment variables only, with the names the
compose file uses (`AIRFLOW__*`, `AIRFLOW_CONN_*`, `GOVKPI_*`), and, as in
compose, only the workers and the init steps see govkpi's secrets. Logs
(components' and tasks') go into one temporary folder. `stop()` ends every
process group it started, even after a failure, and drops both databases.

The Celery workers are told apart as containers would be: each has its own
Celery node name, and `[core] hostname_callable` (`worker_hostname` below)
gives each worker's tasks that worker's name as their `hostname`, which on
one machine would otherwise be the same for both.

The REST API is the one a deployment exposes: `AirflowApi` logs in at
`/auth/token` (FAB: JSON user name and password, answered with a JWT) and
sends the token as a Bearer header. The pipeline helpers below
(`run_one_shot`, `backfill_year`, `wait_for_publication`, ...) are what
`tests/test_distributed.py` and `scripts/distributed check` use.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import ctypes
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

# Kept light at import time: the task runner imports this module (through
# `hostname_callable`) in every task process of the workers.

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
# The test (and scripts/distributed) read these to use other servers.
PG_ADMIN_URL_VAR = "GOVKPI_TEST_PG_ADMIN_URL"
REDIS_URL_VAR = "GOVKPI_TEST_REDIS_URL"

INGEST_DAGS = {code: f"govkpi_ingest_{code}" for code in ("hrss", "health", "enforcement")}
WAREHOUSE_DAG = "govkpi_warehouse"
ALL_DAGS = (*INGEST_DAGS.values(), WAREHOUSE_DAG)
# The DAGs' time zone: backfill dates are calendar dates there.
DAG_TIMEZONE = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

WORKER_HOSTNAME_VAR = "GOVKPI_WORKER_HOSTNAME"
ADMIN_USER = "admin"
AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"

_ACTIVE_RUN_STATES = ("queued", "running")
_PROBLEM_TI_STATES = ("failed", "up_for_retry", "upstream_failed")
_PID_DEATHSIG = 1  # prctl(PR_SET_PDEATHSIG)


def worker_hostname() -> str:
    """`[core] hostname_callable` of the stack's workers: the worker's own name.

    Task instances record the host their worker runs on. Two workers on one
    machine share that host, so each worker is started with its own
    GOVKPI_WORKER_HOSTNAME, as each compose replica has its own container
    host name. Without the variable, the machine's name (Airflow's default).
    """
    return os.environ.get(WORKER_HOSTNAME_VAR) or socket.getfqdn()


class StackError(RuntimeError):
    """The stack could not start, or a component stopped; the message says which, with its log's end."""


class PipelineFailed(AssertionError):
    """A DAG run failed or did not finish in time; the message names the tasks and shows their logs' ends."""


# --------------------------------------------------------------------------
# what the machine has
# --------------------------------------------------------------------------


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url


def configured_pg_admin_url() -> str:
    return os.environ.get(PG_ADMIN_URL_VAR) or DEFAULT_PG_ADMIN_URL


def configured_redis_url() -> str:
    return os.environ.get(REDIS_URL_VAR) or DEFAULT_REDIS_URL


def unavailable_services(pg_admin_url: str, redis_url: str, timeout: float = 3.0) -> list[str]:
    """What of PostgreSQL and Redis cannot be reached, one sentence each (empty: both answer)."""
    import psycopg
    import redis

    problems = []
    try:
        with psycopg.connect(pg_admin_url, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            version = conn.info.server_version
        if version < 150000:
            problems.append(f"PostgreSQL at {redact(pg_admin_url)} is version {version // 10000}; govkpi needs 15 or newer")
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable", said precisely below
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(
            f"no PostgreSQL server usable at {redact(pg_admin_url)} ({first}); the distributed test needs a "
            f"PostgreSQL 15+ whose user may create databases (set {PG_ADMIN_URL_VAR} to another server's URL)"
        )
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        problems.append(
            f"no Redis server at {redis_url} ({type(exc).__name__}: {exc}); the distributed test needs Redis as "
            f"the Celery broker (set {REDIS_URL_VAR} to another server's URL)"
        )
    return problems


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def _sqlalchemy_url(url: str, driver: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=f"postgresql+{driver}" if driver else "postgresql"))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _exception_lines(path: Path, limit: int = 6) -> list[str]:
    """The distinct `SomeError: message` lines of a log, the root cause of a traceback chain first."""
    import re

    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found = re.findall(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception): .*$", text, flags=re.M)
    return list(dict.fromkeys(line.strip()[:300] for line in found))[:limit]


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _pool_settings() -> tuple[str, int, str]:
    """The warehouse writers' pool (govkpi.settings when it defines it)."""
    from govkpi import settings

    return (
        getattr(settings, "WAREHOUSE_POOL", "govkpi_warehouse"),
        int(getattr(settings, "WAREHOUSE_POOL_SLOTS", 2)),
        getattr(settings, "WAREHOUSE_POOL_DESCRIPTION", "govkpi: tasks writing to the warehouse database"),
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: a component gets SIGTERM if the process that started it dies without stopping it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PID_DEATHSIG, signal.SIGTERM)
    except OSError:
        pass


# --------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------


@dataclass
class Component:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class StackInfo:
    """What a user of a started stack needs: addresses, credentials, where the logs are."""

    api_url: str
    username: str
    password: str
    warehouse_url: str
    metadata_url: str
    broker_url: str
    queue: str
    workers: list[str]
    log_dir: Path
    base_dir: Path


class DistributedStack:
    """Airflow on the CeleryExecutor, natively; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        pg_admin_url: str | None = None,
        redis_url: str | None = None,
        landing_dir: Path | None = None,
        workers: int = 2,
        # The warehouse DAG has a task per dbt model: more slots than cores keeps
        # the cores busy while tasks wait on the api-server and the database.
        worker_concurrency: int = 4,
        pseudonym_key: str | None = None,
        base_dir: Path | None = None,
        keep_files: bool = False,
        delivery_deadline_hours: float | None = None,
        warehouse_deadline_minutes: float | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.pg_admin_url = pg_admin_url or configured_pg_admin_url()
        self.redis_url = redis_url or configured_redis_url()
        self.landing_dir = Path(landing_dir or PROJECT_ROOT / "ingestion" / "sample_data").resolve()
        self.worker_count = workers
        self.worker_concurrency = worker_concurrency
        self.pseudonym_key = pseudonym_key or secrets.token_hex(32)
        self.keep_files = keep_files
        self.delivery_deadline_hours = delivery_deadline_hours
        self.warehouse_deadline_minutes = warehouse_deadline_minutes
        self.say = say or (lambda message: None)
        self.token = secrets.token_hex(4)
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix=f"govkpi-distributed-{self.token}-"))
        self.home = self.base_dir / "airflow"
        self.log_dir = self.base_dir / "logs"
        self.task_log_dir = self.log_dir / "tasks"
        self.state_dir = self.base_dir / "state"
        self.metadata_db = f"govkpi_airflow_{self.token}"
        self.warehouse_db = f"govkpi_warehouse_{self.token}"
        self.metadata_url = _with_database(self.pg_admin_url, self.metadata_db)
        self.warehouse_url = _with_database(self.pg_admin_url, self.warehouse_db)
        self.queue = f"govkpi_{self.token}"
        self.worker_names = [f"worker{i + 1}-{self.token}" for i in range(workers)]
        self.password = secrets.token_hex(16)
        # Shared by every component, as compose's .env gives them all the same values.
        self._secrets = {
            "jwt": secrets.token_hex(32),
            "api": secrets.token_hex(32),
            "fernet": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        self.api_port = 0
        self.broker_url = ""
        self.components: list[Component] = []
        self.timings: dict[str, float] = {}
        self._created_dbs: list[str] = []
        self._stopped = False
        self._started = False
        self._lock = threading.Lock()

    # ---- addresses -------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def worker_nodes(self) -> list[str]:
        """Celery node names of the workers (`name@host`)."""
        host = socket.gethostname()
        return [f"{name}@{host}" for name in self.worker_names]

    def info(self) -> StackInfo:
        return StackInfo(
            api_url=self.api_url,
            username=ADMIN_USER,
            password=self.password,
            warehouse_url=self.warehouse_url,
            metadata_url=self.metadata_url,
            broker_url=self.broker_url,
            queue=self.queue,
            workers=list(self.worker_names),
            log_dir=self.log_dir,
            base_dir=self.base_dir,
        )

    # ---- environment -----------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        """The compose file's x-airflow-common environment, for this machine."""
        env = {
            k: v
            for k, v in os.environ.items()
            # Nothing of the caller's own Airflow or govkpi configuration leaks in.
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "GOVKPI_")) and k != "AIRFLOW_HOME"
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_url(self.metadata_url, "psycopg2"),
                # Airflow 3 also opens the metadata database asynchronously; derived
                # from the URL above it would need asyncpg, which requirements.txt
                # does not install. psycopg (3) does both, and is installed.
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": _sqlalchemy_url(self.metadata_url, "psycopg"),
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _sqlalchemy_url(self.metadata_url, ""),
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # Airflow's Celery settings, and the workers preload the gate's imports (govkpi/celery_config.py).
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "govkpi.celery_config.CELERY_CONFIG",
                # This stack's own queue: tasks default to it and the workers serve only it.
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__API_AUTH__JWT_ISSUER": "govkpi",
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                # One uvicorn worker: a 2-core machine runs every component.
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.task_log_dir),
                # Where govkpi's callbacks (alerts) write, in any component.
                "GOVKPI_STATE_DIR": str(self.state_dir),
                "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # OpenLineage into files under the stack's state folder, as compose's default.
        from govkpi import openlineage

        env.update(openlineage.airflow_env(self.state_dir, {}))
        if self.warehouse_deadline_minutes is not None:
            # Read where the warehouse DAG is parsed (compose sets it for all).
            env["GOVKPI_WAREHOUSE_DEADLINE_MINUTES"] = f"{self.warehouse_deadline_minutes:g}"
        return env

    def _govkpi_env(self) -> dict[str, str]:
        """The compose file's x-govkpi-env: only for the workers and the init steps."""
        env = {
            "GOVKPI_WAREHOUSE_URL": self.warehouse_url,
            "GOVKPI_PSEUDONYM_KEY": self.pseudonym_key,
            "GOVKPI_LANDING_DIR": str(self.landing_dir),
            "GOVKPI_STATE_DIR": str(self.state_dir),
            "AIRFLOW_CONN_GOVKPI_WAREHOUSE": self.warehouse_url,
            # Deliveries landed while the stack runs are noticed within seconds.
            "GOVKPI_DELIVERY_POLL_SECONDS": "5",
        }
        if self.delivery_deadline_hours is not None:
            env["GOVKPI_DELIVERY_DEADLINE_HOURS"] = f"{self.delivery_deadline_hours:g}"
        return env

    def _secret(self, name: str) -> str:
        return self._secrets[name]

    def env(self, *, govkpi: bool = False) -> dict[str, str]:
        """Environment of an Airflow command against this stack (`govkpi=True`: with govkpi's settings)."""
        env = self._base_env()
        if govkpi:
            env.update(self._govkpi_env())
        return env

    def airflow(self, *args: str, timeout: float = 300, govkpi: bool = False) -> subprocess.CompletedProcess[str]:
        """Run an `airflow` CLI command against the stack (as `docker compose exec` would)."""
        return subprocess.run(
            [_airflow_bin(), *args],
            env=self.env(govkpi=govkpi),
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # ---- start -----------------------------------------------------------

    def __enter__(self) -> DistributedStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 300) -> DistributedStack:
        """Create the databases, initialise, start every component and wait until all are ready."""
        if self._started:
            return self
        self._started = True
        atexit.register(self.stop)
        t0 = time.monotonic()
        for folder in (self.home, self.log_dir, self.task_log_dir, self.state_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._create_databases()
        self.broker_url = self._choose_broker()
        self.api_port = _free_port()
        self.say(f"databases {self.metadata_db} (Airflow) and {self.warehouse_db} (warehouse); broker {self.broker_url}")

        self.say("airflow db migrate")
        self._run_step("db-migrate", [_airflow_bin(), "db", "migrate"], self.env(), timeout=600)
        self.timings["migrate"] = time.monotonic() - t0

        # The rest of airflow-init runs while the components start.
        pool, slots, description = _pool_settings()
        init_steps = {
            "users-create": (
                [_airflow_bin(), "users", "create", "--username", ADMIN_USER, f"--password={self.password}",
                 "--firstname", "govkpi", "--lastname", "admin", "--email", "admin@example.invalid", "--role", "Admin"],
                self.env(),
            ),
            "pools-set": ([_airflow_bin(), "pools", "set", pool, str(slots), description], self.env()),
            "prepare-warehouse": (
                [sys.executable, str(PROJECT_ROOT / "docker" / "prepare_warehouse.py")],
                self.env(govkpi=True),
            ),
        }
        results: dict[str, BaseException | None] = {}

        def run_init(name: str, command: list[str], env: dict[str, str]) -> None:
            # The api-server syncs FAB's permissions as it starts; `users create`
            # doing the same at that moment can hit a unique violation: try again.
            for attempt in range(3):
                try:
                    self._run_step(name, command, env, timeout=300)
                    results[name] = None
                    return
                except BaseException as exc:  # noqa: BLE001 - reported below
                    results[name] = exc
                    time.sleep(2 * (attempt + 1))

        threads = [threading.Thread(target=run_init, args=(n, c, e), daemon=True) for n, (c, e) in init_steps.items()]
        for thread in threads:
            thread.start()
        self._start_components()
        self.say(f"started {', '.join(c.name for c in self.components)}; waiting until they are ready")
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic()))
        failed = [f"{name}: {exc}" for name, exc in results.items() if exc is not None]
        missing = [name for name in init_steps if name not in results]
        if failed or missing:
            raise StackError("initialisation failed:\n" + "\n".join(failed + [f"{m}: did not finish" for m in missing]))
        self.timings["init"] = time.monotonic() - t0
        self.wait_ready(deadline)
        self.timings["start"] = time.monotonic() - t0
        self.say(f"stack ready in {self.timings['start']:.0f} s: {self.api_url}")
        return self

    def _create_databases(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            for name in (self.metadata_db, self.warehouse_db):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
                self._created_dbs.append(name)

    def _choose_broker(self) -> str:
        """The Redis URL with a database number: the one given, else a random one of 1..15 that exists."""
        import redis

        parts = urlsplit(self.redis_url)
        if parts.path.strip("/"):
            return self.redis_url
        for db in random.sample(range(1, 16), 15):
            candidate = urlunsplit(parts._replace(path=f"/{db}"))
            try:
                client = redis.Redis.from_url(candidate, socket_connect_timeout=3, socket_timeout=3)
                client.ping()
                client.close()
                return candidate
            except redis.ResponseError:  # the server has fewer databases
                continue
        return urlunsplit(parts._replace(path="/0"))

    def _run_step(self, name: str, command: list[str], env: dict[str, str], timeout: float) -> None:
        log_path = self.log_dir / f"{name}.log"
        started = time.monotonic()
        with log_path.open("w") as out:
            proc = subprocess.run(command, env=env, cwd=self.base_dir, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        self.timings[name] = time.monotonic() - started
        if proc.returncode != 0:
            raise StackError(f"{name} failed (exit {proc.returncode}); end of {log_path}:\n{_tail(log_path)}")

    def _start_components(self) -> None:
        airflow = _airflow_bin()
        base = self.env()
        triggerer_env = dict(base, GOVKPI_LANDING_DIR=str(self.landing_dir))
        specs: list[tuple[str, list[str], dict[str, str]]] = [
            ("api-server", [airflow, "api-server"], base),
            ("scheduler", [airflow, "scheduler"], base),
            ("dag-processor", [airflow, "dag-processor"], base),
            # Waits for deliveries (deferred tasks) in the landing folder.
            ("triggerer", [airflow, "triggerer", "--skip-serve-logs"], triggerer_env),
        ]
        for name in self.worker_names:
            env = self.env(govkpi=True)
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "govkpi.distributed.worker_hostname"
            env[WORKER_HOSTNAME_VAR] = name
            # Task logs are in the shared folder the api-server reads, as on
            # compose's shared volume: no per-worker log server (and no port).
            specs.append((name, [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"], env))
        for name, command, env in specs:
            component = Component(name, command, env, self.log_dir / f"{name}.log")
            with component.log_path.open("w") as out:
                component.proc = subprocess.Popen(
                    command,
                    env=env,
                    cwd=self.base_dir,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: stop() ends it and all it started
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            self.components.append(component)

    def check_components(self) -> None:
        """Raise StackError naming any component that has stopped, its exceptions first, then the end of its log."""
        dead = [c for c in self.components if not c.running()]
        if dead:
            raise StackError(
                "\n\n".join(
                    f"{c.name} stopped (exit {c.proc.returncode if c.proc else '?'})"
                    + "".join(f"\n  {line}" for line in _exception_lines(c.log_path))
                    + f"\nend of {c.log_path}:\n{_tail(c.log_path)}"
                    for c in dead
                )
            )

    def wait_ready(self, deadline: float) -> None:
        """Until the api-server answers with every job healthy, login works, both workers answer and the DAGs are parsed."""
        import httpx

        waiting_for = "the api-server"
        last = ""
        api: AirflowApi | None = None
        while True:
            self.check_components()
            if time.monotonic() > deadline:
                raise StackError(f"the stack was not ready in time: still waiting for {waiting_for} ({last}); logs in {self.log_dir}")
            try:
                health = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
                unhealthy = [k for k, v in health.items() if isinstance(v, dict) and v.get("status") != "healthy"]
                if unhealthy:
                    waiting_for, last = "healthy jobs", f"not yet healthy: {', '.join(sorted(unhealthy))}"
                    time.sleep(1)
                    continue
                if api is None:
                    waiting_for = "login"
                    api = AirflowApi(self.api_url, ADMIN_USER, self.password)
                    api.login()
                waiting_for = "the Celery workers"
                answered = set(self.ping_workers())
                expected = set(self.worker_nodes())
                if not expected <= answered:
                    last = f"answered: {sorted(answered & expected) or 'none'}"
                    time.sleep(1)
                    continue
                waiting_for = "the DAGs to be parsed"
                missing = [d for d in ALL_DAGS if api.dag(d) is None]
                if missing:
                    # An import error may be passing (a file saved half-way); it is
                    # reported if the DAGs are still missing at the deadline.
                    errors = [e for e in api.import_errors() if "govkpi" in e.get("filename", "")]
                    last = f"not yet parsed: {', '.join(missing)}" + "".join(
                        f"\nimport error in {e['filename']}:\n{e['stack_trace'][-2000:]}" for e in errors
                    )
                    time.sleep(1)
                    continue
                api.close()
                return
            except (httpx.HTTPError, ApiError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(1)

    def ping_workers(self, timeout: float = 2.0) -> list[str]:
        """Node names of this stack's Celery workers that answer a ping through the broker."""
        from celery import Celery

        app = Celery("govkpi-ping", broker=self.broker_url)
        try:
            replies = app.control.ping(timeout=timeout) or []
        finally:
            app.close()
        names = [name for reply in replies for name in reply]
        return [n for n in names if n.split("@", 1)[0] in self.worker_names]

    def api(self) -> AirflowApi:
        api = AirflowApi(self.api_url, ADMIN_USER, self.password)
        api.login()
        return api

    # ---- warehouse -------------------------------------------------------

    def reset_warehouse(self) -> None:
        """An empty warehouse again (same URL, so the running workers use it), prepared as at start.

        For a second pipeline run that must load everything again (a backfill
        compared with the one-shot load).
        """
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.warehouse_db)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(self.warehouse_db)))
        self._run_step(
            "prepare-warehouse-again",
            [sys.executable, str(PROJECT_ROOT / "docker" / "prepare_warehouse.py")],
            self.env(govkpi=True),
            timeout=300,
        )

    # ---- stop ------------------------------------------------------------

    def stop(self, grace: float = 15.0) -> None:
        """End every process group started (TERM, then KILL after `grace` s), drop the databases, clean Redis."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001
            pass
        self._stop_processes(grace)
        self._drop_databases()
        self._clean_broker()
        if not self.keep_files:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _stop_processes(self, grace: float) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with Airflow
            psutil = None
        # Everything each component started, including task processes that
        # may have left its process group.
        descendants = []
        for c in self.components:
            if c.proc is None or psutil is None:
                continue
            try:
                descendants += psutil.Process(c.proc.pid).children(recursive=True)
            except psutil.Error:
                pass
        for c in self.components:
            if c.proc is not None and c.proc.poll() is None:
                try:
                    os.killpg(c.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for c in self.components:
            if c.proc is None:
                continue
            try:
                c.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for c in self.components:
            if c.proc is None:
                continue
            # The group may outlive its leader (a uvicorn or Celery child): kill what is left of it.
            try:
                os.killpg(c.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                c.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if psutil is not None:
            for p in descendants:
                try:
                    p.kill()
                except psutil.Error:
                    pass

    def _drop_databases(self) -> None:
        import psycopg
        from psycopg import sql

        if not self._created_dbs:
            return
        for attempt in range(3):
            try:
                with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                    for name in list(self._created_dbs):
                        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
                        self._created_dbs.remove(name)
                return
            except psycopg.Error:
                time.sleep(1 + attempt)

    def _clean_broker(self) -> None:
        """Delete this stack's keys (its queue, its workers' mailboxes) from the broker's database."""
        if not self.broker_url:
            return
        try:
            import redis

            client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=3, socket_timeout=3)
            keys = list(client.scan_iter(match=f"*{self.token}*", count=500))
            if keys:
                client.delete(*keys)
            # Messages a killed worker had taken but not acknowledged (kombu keeps
            # them for redelivery): [message, exchange, routing key] by delivery tag.
            for tag, value in client.hscan_iter("unacked"):
                try:
                    _, exchange, routing_key = json.loads(value)
                except (ValueError, TypeError):
                    continue
                if self.queue in (exchange, routing_key):
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
            # kombu's bookkeeping of fanout bindings, shared by the apps using this
            # database: dropped only when nothing else is left in it.
            if [k.decode() for k in client.scan_iter(count=100)] == ["_kombu.binding_deadlines"]:
                client.delete("_kombu.binding_deadlines")
            client.close()
        except Exception:  # noqa: BLE001 - best effort; the keys are harmless
            pass


# --------------------------------------------------------------------------
# the REST API
# --------------------------------------------------------------------------


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:1000]}")
        self.status = status


class AirflowApi:
    """A small client of Airflow 3's public REST API (`/api/v2`), logged in through the auth manager.

    FAB (the compose file's auth manager) answers POST /auth/token with
    {"username", "password"} as JSON by {"access_token": <JWT>}; every
    request then sends `Authorization: Bearer <JWT>`. The token is renewed
    on a 401 (it expires after `[api_auth] jwt_expiration_time`).
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def login(self) -> str:
        response = self._client.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code not in (200, 201):
            raise ApiError("POST", "/auth/token", response.status_code, response.text)
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, *, ok: Iterable[int] = (200, 201), **kwargs: Any) -> Any:
        if self._token is None:
            self.login()
        for attempt in (1, 2):
            response = self._client.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.login()
                continue
            break
        if response.status_code not in tuple(ok):
            raise ApiError(method, path, response.status_code, response.text)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _pages(self, path: str, key: str, params: dict[str, Any] | None = None, page: int = 100) -> list[dict]:
        out: list[dict] = []
        offset = 0
        while True:
            body = self.request("GET", path, params={**(params or {}), "limit": page, "offset": offset})
            items = body.get(key) or []
            out += items
            offset += len(items)
            if not items or offset >= (body.get("total_entries") or 0):
                return out

    # DAGs
    def dag(self, dag_id: str) -> dict | None:
        try:
            return self.request("GET", f"/api/v2/dags/{quote(dag_id)}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def import_errors(self) -> list[dict]:
        return self._pages("/api/v2/importErrors", "import_errors")

    def unpause(self, dag_id: str) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": False})

    def pause(self, dag_id: str) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": True})

    # DAG runs
    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: dt.datetime | None = None) -> dict:
        body = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf or {}}
        return self.request("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json=body)

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")

    def dag_runs(self, dag_id: str = "~", **params: Any) -> list[dict]:
        return self._pages(f"/api/v2/dags/{quote(dag_id)}/dagRuns", "dag_runs", params)

    def task_instances(self, dag_id: str = "~", run_id: str = "~", **params: Any) -> list[dict]:
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='~')}/taskInstances"
        return self._pages(path, "task_instances", params)

    def queued_asset_events(self, dag_id: str) -> list[dict]:
        try:
            body = self.request("GET", f"/api/v2/dags/{quote(dag_id)}/assets/queuedEvents")
        except ApiError as exc:
            if exc.status == 404:  # none queued
                return []
            raise
        return body.get("queued_events") or []

    # Backfills
    def create_backfill(
        self,
        dag_id: str,
        from_date: dt.datetime,
        to_date: dt.datetime,
        *,
        conf: dict | None = None,
        max_active_runs: int = 1,
        reprocess_behavior: str = "none",
    ) -> dict:
        body = {
            "dag_id": dag_id,
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
            "dag_run_conf": conf or {},
            "max_active_runs": max_active_runs,
            "reprocess_behavior": reprocess_behavior,
        }
        return self.request("POST", "/api/v2/backfills", json=body)

    def backfill_dry_run(self, dag_id: str, from_date: dt.datetime, to_date: dt.datetime) -> list[dict]:
        body = {"dag_id": dag_id, "from_date": from_date.isoformat(), "to_date": to_date.isoformat()}
        return self.request("POST", "/api/v2/backfills/dry_run", json=body).get("backfills") or []

    def backfill(self, backfill_id: int) -> dict:
        return self.request("GET", f"/api/v2/backfills/{backfill_id}")

    def backfills(self, dag_id: str) -> list[dict]:
        return self._pages("/api/v2/backfills", "backfills", {"dag_id": dag_id})

    def close(self) -> None:
        self._client.close()


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


# --------------------------------------------------------------------------
# scripts/distributed
# --------------------------------------------------------------------------


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
    parser.add_argument("--landing", type=Path, default=PROJECT_ROOT / "ingestion" / "sample_data", help="landing folder (default: the sample extracts)")
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
