"""What decides whether a build may skip dbt's unit tests: the project's code, not its data (docs/adr/0025)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from govkpi.dbt_session import UNIT_TESTS_PASSED, _unit_tests_passed, project_code_sha256

ROOT = Path(__file__).resolve().parents[2]


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__")
    )
    return project


def test_code_hash_changes_with_any_model_macro_or_project_file_and_not_with_build_output(tmp_path):
    project = copy_project(tmp_path)
    original = project_code_sha256(project)
    assert original == project_code_sha256(ROOT / "dbt_project")  # build output (target/, logs/) is not code

    (project / "target").mkdir(exist_ok=True)
    (project / "target" / "run_results.json").write_text("{}")
    assert project_code_sha256(project) == original

    for changed in ("models/kpi/kpi_measures_counted.sql", "macros/kpi_rollup.sql", "dbt_project.yml"):
        path = project / changed
        text = path.read_text()
        path.write_text(text + "\n")
        assert project_code_sha256(project) != original, changed
        path.write_text(text)
        assert project_code_sha256(project) == original, changed

    (project / "models" / "kpi" / "new_model.sql").write_text("select 1 as one\n")
    assert project_code_sha256(project) != original


def test_a_record_counts_only_for_the_code_it_was_made_for(tmp_path):
    code = "a" * 64
    assert _unit_tests_passed(tmp_path, code) is None
    (tmp_path / UNIT_TESTS_PASSED).write_text(json.dumps({"code_sha256": code, "invocation_id": "x", "unit_tests": 33}))
    assert _unit_tests_passed(tmp_path, code)["unit_tests"] == 33
    assert _unit_tests_passed(tmp_path, "b" * 64) is None
    (tmp_path / UNIT_TESTS_PASSED).write_text("not json")
    assert _unit_tests_passed(tmp_path, code) is None
