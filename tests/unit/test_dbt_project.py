"""The dbt project parses, and every KPI it defines has a unit test of its formula."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from govkpi.settings import load_settings
from govkpi.transform import run_dbt

ROOT = Path(__file__).resolve().parents[2]
# `dbt parse` needs a profile but never connects.
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# 3+ ASCII letters, not all capitals (KPI, ISO) nor part of an identifier (dim_area.area_key)
ENGLISH_WORD = re.compile(r"\b(?=[A-Za-z]*[a-z])[A-Za-z]{3,}\b")


def published_models(manifest: dict) -> list[dict]:
    """The models publication renames to marts: models/marts/ and the KPI layer's fct_kpi_value (tagged marts)."""
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and "marts" in n["tags"]]


def load_checker():
    path = ROOT / "dbt_project" / "scripts" / "check_kpi_unit_tests.py"
    spec = importlib.util.spec_from_file_location("check_kpi_unit_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_kpi_has_a_unit_test_and_marts_use_no_select_star(tmp_path):
    run_dbt(load_settings(), UNREACHABLE, ["parse"], target_path=tmp_path / "target")
    manifest_path = tmp_path / "target" / "manifest.json"
    checker = load_checker()
    definitions = ROOT / "dbt_project" / "seeds" / "kpi_definitions.csv"
    assert checker.uncovered_kpi_codes(manifest_path, definitions) == []

    manifest = json.loads(manifest_path.read_text())
    marts = published_models(manifest)
    assert {"fct_kpi_value", "dim_kpi", "dim_date", "dim_area", "dim_person"} <= {n["name"] for n in marts}
    for node in marts:
        sql = node["raw_code"].lower()
        assert "select *" not in sql, f"{node['name']} uses select * (column lineage needs explicit columns)"
        assert node["description"], f"{node['name']} has no description (it must state its grain)"
        # a table (or an incremental table) to be publishable: a view would read staging after publication
        assert node["config"]["materialized"] in ("table", "incremental"), f"{node['name']} must be a table to be publishable"
        assert node["schema"] == "marts_audit"
    # incremental by delivered file: the single-extract event facts (docs/adr/0009)
    incremental = {n["name"]: n for n in marts if n["config"]["materialized"] == "incremental"}
    assert set(incremental) == {
        "fct_training_enrolment", "fct_inpatient_stay", "fct_remote_reading",
        "fct_expert_round", "fct_medical_aid_payment", "fct_enforcement_case",
        "fct_kpi_value", "fct_kpi_comparison",
    }
    # by changed period: the partitions kpi_changed_partitions lists are replaced (docs/adr/0024)
    kpi_values = incremental.pop("fct_kpi_value")
    assert kpi_values["config"]["on_schema_change"] == "fail"
    assert kpi_values["config"]["incremental_strategy"] == "append"
    assert any("delete_changed_kpi_partitions" in hook["sql"] for hook in kpi_values["config"]["pre-hook"])
    assert any("record_kpi_fingerprints" in hook["sql"] for hook in kpi_values["config"]["post-hook"])
    assert any("add_kpi_comparison_pending" in hook["sql"] for hook in kpi_values["config"]["post-hook"])
    # by the periods the replaced partitions reach (docs/adr/0034)
    comparisons = incremental.pop("fct_kpi_comparison")
    assert comparisons["config"]["on_schema_change"] == "fail"
    assert comparisons["config"]["incremental_strategy"] == "append"
    assert any("delete_affected_kpi_comparisons" in hook["sql"] for hook in comparisons["config"]["pre-hook"])
    assert any("record_kpi_comparison_done" in hook["sql"] for hook in comparisons["config"]["post-hook"])
    for name, node in incremental.items():
        assert node["config"]["on_schema_change"] == "fail", name
        assert node["config"]["incremental_strategy"] == "append", name
        assert any("delete_rows_of_replaced_files" in hook["sql"] for hook in node["config"]["pre-hook"]), name
        assert "only_new_source_files" in node["raw_code"], name


def test_the_checker_notices_a_kpi_without_unit_test(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"unit_tests": {"t": {"given": [{"rows": [{"kpi_code": "a"}]}], "expect": {}}}}))
    definitions = tmp_path / "kpis.csv"
    definitions.write_text("kpi_code,name_en\na,A\nb,B\n")
    assert load_checker().uncovered_kpi_codes(manifest, definitions) == ["b"]


def language_gaps(description: str) -> list[str]:
    """What a published description lacks to read Chinese first, then English.

    The Chinese text comes first, then a line break or " / ", then the English
    one. Checking the order, not only that both scripts occur, catches an
    English-only description that quotes a Chinese term ("Inpatient number (住院号).").
    """
    if not description.strip():
        return ["no description"]
    chinese, *rest = re.split(r"\n| / ", description.strip(), maxsplit=1)
    first_han, first_word = CHINESE.search(chinese), ENGLISH_WORD.search(chinese)
    gaps = []
    if not first_han or (first_word and first_word.start() < first_han.start()):
        gaps.append("does not start with Chinese")
    if not rest or not ENGLISH_WORD.search(rest[0]):
        gaps.append("no English after the Chinese (a line break or ' / ', then the English text)")
    return gaps


def test_marts_are_documented_in_chinese_and_english(tmp_path):
    # persist_docs writes these descriptions as table and column comments.
    run_dbt(load_settings(), UNREACHABLE, ["parse"], target_path=tmp_path / "target")
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    marts = published_models(manifest)
    assert marts
    for node in marts:
        assert node["columns"], f"{node['name']} documents no columns"
        for column_name, column in node["columns"].items():
            assert column["description"].strip(), f"{node['name']}.{column_name} has no description"
    problems = [f"{node['name']} (model): {', '.join(gaps)}" for node in marts if (gaps := language_gaps(node["description"]))]
    problems += [
        f"{node['name']}.{column_name}: {', '.join(gaps)}"
        for node in marts
        for column_name, column in node["columns"].items()
        if (gaps := language_gaps(column["description"]))
    ]
    assert problems == [], "descriptions not in both Chinese and English:\n" + "\n".join(problems)


def test_a_project_that_does_not_parse_fails_at_once_not_as_a_crash(tmp_path, monkeypatch):
    """A YAML error in the project is not transient: it must not be retried for minutes as a crash would be."""
    import shutil

    from govkpi.errors import GovkpiError, TransientError
    from govkpi.transform import DbtProjectError

    project = tmp_path / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    seeds = project / "seeds" / "_reference__seeds.yml"
    seeds.write_text(seeds.read_text(encoding="utf-8").replace("description: >", "description: a: b", 1), encoding="utf-8")
    monkeypatch.setenv("GOVKPI_DBT_PROJECT_DIR", str(project))
    with pytest.raises(DbtProjectError) as raised:
        run_dbt(load_settings(), UNREACHABLE, ["parse"], target_path=tmp_path / "target")
    assert isinstance(raised.value, GovkpiError) and not isinstance(raised.value, TransientError)
    assert "_reference__seeds.yml" in str(raised.value) and "does not parse" in str(raised.value)
