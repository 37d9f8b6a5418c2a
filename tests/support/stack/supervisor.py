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

The REST API client is in `api.py` beside this module, the pipeline helpers
driven through the stack in `pipeline.py`, the command line of
`scripts/distributed` in `__main__.py`.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from govkpi.orchestrate import INGEST_DAGS, WAREHOUSE_DAG

from .api import AirflowApi, ApiError

# Kept light at import time: the task runner imports this module (through
# `hostname_callable`), and with it the package `support.stack`, whose other
# modules are as light, in every task process of the workers.

# tests/support/stack/supervisor.py: the repository is three folders up.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
# Where this harness lives: the workers get it on their path for `worker_hostname`.
TESTS_DIR = PROJECT_ROOT / "tests"

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
# The test (and scripts/distributed) read these to use other servers.
PG_ADMIN_URL_VAR = "GOVKPI_TEST_PG_ADMIN_URL"
REDIS_URL_VAR = "GOVKPI_TEST_REDIS_URL"

ALL_DAGS = (*INGEST_DAGS.values(), WAREHOUSE_DAG)

WORKER_HOSTNAME_VAR = "GOVKPI_WORKER_HOSTNAME"
ADMIN_USER = "admin"
AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"

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
        self.landing_dir = Path(landing_dir or PROJECT_ROOT / "sample_data").resolve()
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

        env.update(openlineage.transport_env(self.state_dir, {}))
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
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "support.stack.supervisor.worker_hostname"
            # That module is under tests/, which is not installed: on the workers' path, last.
            env["PYTHONPATH"] = os.pathsep.join((env["PYTHONPATH"], str(TESTS_DIR)))
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
