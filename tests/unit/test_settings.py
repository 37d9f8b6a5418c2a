"""Settings: one module reads the environment; everything else gets a typed `Settings`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from govkpi.settings import PROJECT_ROOT, SettingsError, load_settings

PRODUCT_PACKAGES = ("govkpi", "ingestion", "expectations", "dags")
SETTINGS_MODULE = PROJECT_ROOT / "govkpi" / "settings.py"


def _environment_reads(source: str, where: str) -> list[str]:
    """Reads of a GOVKPI_ name: `x.get("GOVKPI_…")`, `os.getenv(…)`, `x.pop/setdefault(…)` or `x["GOVKPI_…"]` (not a store).

    Any mapping counts, not only `os.environ`: a copy of the environment
    read elsewhere is the same scattering of settings.
    """
    found = []
    for node in ast.walk(ast.parse(source, where)):
        name = None
        if isinstance(node, ast.Call) and node.args and ast.unparse(node.func).endswith((".get", "getenv", ".pop", ".setdefault")):
            name = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            name = node.slice
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.startswith("GOVKPI_"):
            found.append(f"{where}:{node.lineno} reads {name.value}")
    return found


def test_only_the_settings_module_reads_govkpi_variables():
    files = [p for package in PRODUCT_PACKAGES for p in sorted((PROJECT_ROOT / package).rglob("*.py"))]
    assert len(files) > 30, "the scan found the product's modules"
    probe = 'import os\nos.environ.get("GOVKPI_A")\nos.getenv("GOVKPI_B")\nenv = dict(os.environ)\nenv["GOVKPI_C"]\nenv["GOVKPI_D"] = "x"\n'
    assert [hit.split(" reads ")[1] for hit in _environment_reads(probe, "probe")] == ["GOVKPI_A", "GOVKPI_B", "GOVKPI_C"]
    assert _environment_reads(SETTINGS_MODULE.read_text(encoding="utf-8"), "settings"), "settings.py is where they are read"
    reads = [
        hit
        for path in files
        if path != SETTINGS_MODULE
        for hit in _environment_reads(path.read_text(encoding="utf-8"), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert not reads, "read GOVKPI_ variables through govkpi.settings.load_settings():\n" + "\n".join(reads)


# Where settings are read: the entry points (the command line's main, each
# DAG file and task, the alert callbacks Airflow calls); everything below
# them takes the `Settings` it is given.
ENTRY_POINTS = {"govkpi/cli.py", "govkpi/alerts.py"}


def test_settings_are_read_at_entry_points_and_passed_down():
    calls = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            where = str(path.relative_to(PROJECT_ROOT))
            if path == SETTINGS_MODULE or where in ENTRY_POINTS or where.startswith("dags/"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), where)
            calls += [
                f"{where}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "load_settings"
            ]
    assert not calls, "take a Settings argument instead of calling load_settings():\n" + "\n".join(calls)
    cli = (PROJECT_ROOT / "govkpi" / "cli.py").read_text(encoding="utf-8")
    assert cli.count("load_settings(") == 1, "the command line reads the settings once, in main()"


def test_alerts_land_in_the_state_folder_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.alert_dir == (PROJECT_ROOT / ".govkpi" / "alerts").resolve()
    state = tmp_path / "state"
    assert load_settings({"GOVKPI_STATE_DIR": str(state)}).alert_dir == state / "alerts"
    assert load_settings({"GOVKPI_STATE_DIR": str(state), "GOVKPI_ALERT_DIR": str(tmp_path / "a")}).alert_dir == tmp_path / "a"


def test_durations_are_typed_and_a_bad_one_is_named():
    settings = load_settings({"GOVKPI_DELIVERY_POLL_SECONDS": "1", "GOVKPI_WAREHOUSE_DEADLINE_MINUTES": "0"})
    assert (settings.delivery_poll_seconds, settings.warehouse_deadline_minutes, settings.delivery_deadline_hours) == (1.0, 0.0, 120.0)
    with pytest.raises(SettingsError, match="GOVKPI_DELIVERY_POLL_SECONDS must be a number of seconds, not 'often'"):
        load_settings({"GOVKPI_DELIVERY_POLL_SECONDS": "often"})
    assert "key=<unset>" in repr(settings) and "GOVKPI" not in repr(settings)
