"""The dbt project parses, and every KPI it defines has a unit test of its formula."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from govkpi.settings import load_settings
from govkpi.transform import run_dbt

ROOT = Path(__file__).resolve().parent.parent
# `dbt parse` needs a profile but never connects.
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"


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
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["path"].startswith("marts/")]
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
    }
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
