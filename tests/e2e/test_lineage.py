"""`govkpi lineage`: a published KPI value traced to its models, checks, publication and source files.

The trace is checked against the warehouse itself: the manifest of loaded
files, the publication log, the validation run, and the staging rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, govkpi_env, run_govkpi

from govkpi.kpi_registry import load_registry
from govkpi.lineage import KPI_MODEL, lineage_nodes
from govkpi.settings import load_settings
from govkpi.transform import ensure_manifest

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(load_settings()).read_text())


def test_every_kpi_is_in_the_registry_and_its_lineage_leads_to_fct_kpi_value(manifest):
    with (ROOT / "dbt_project" / "seeds" / "kpi_definitions.csv").open(encoding="utf-8") as f:
        kpis = {row["kpi_code"] for row in csv.DictReader(f)}
    registry = load_registry(ROOT / "dbt_project")
    assert kpis <= set(registry.measures)
    for code in kpis:
        models = registry.models(code)
        assert models, code
        nodes = lineage_nodes(manifest, models)
        assert nodes[-1] == KPI_MODEL, (code, nodes[-1])
        assert any(n.startswith("source.govkpi.") for n in nodes), code


@pytest.fixture(scope="module")
def env(published_db: str, state_dir: Path) -> dict[str, str]:
    return govkpi_env(published_db, state_dir)


def test_certificates_of_june_trace_to_their_files_models_checks_and_publication(env, published_db):
    proc = run_govkpi(["lineage", "hrss_certificates", "--period", "2023-06", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    trace = json.loads(proc.stdout)

    with psycopg.connect(published_db) as conn:
        publication_id, validation_run_id, invocation, file_ids = conn.execute(
            "select publication_id, validation_run_id, dbt_invocation_id, file_ids from audit.publication "
            "order by publication_id desc limit 1"
        ).fetchone()
        [value] = conn.execute(
            "select value from marts.fct_kpi_value where kpi_code = 'hrss_certificates' and period_grain = 'month' "
            "and period_start_date = '2023-06-01' and area_level = 'township' and breakdown_member is null"
        ).fetchone()
        manifest_rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "select file_id, file_name, sha256, extract_name, period, rows_loaded, rows_rejected from audit.load_manifest"
            )
        }
        passed_checks = conn.execute(
            "select count(*) from audit.validation_result where validation_run_id = %s and success", (validation_run_id,)
        ).fetchone()[0]

    # the publication that made it public
    assert trace["publication"]["publication_id"] == publication_id
    assert trace["publication"]["dbt_invocation_id"] == invocation
    assert [v["value"] for v in trace["values"] if v["breakdown_member"] is None] == [float(value)]

    # the certificate files: named with their sha256, as the manifest has them,
    # published, and holding exactly the certificates the value counts
    events = [f for f in trace["files"] if f["role"] == "events"]
    assert events, trace["files"]
    for f in events:
        assert f["file_id"] in file_ids
        name, sha256, extract, period, loaded, rejected = manifest_rows[f["file_id"]]
        assert (f["file_name"], f["sha256"], f["extract_name"], f["rows_loaded"], f["rows_rejected"]) == (
            name, sha256, extract, loaded, rejected,
        )
        assert extract == "hrss_certificate" and len(sha256) == 64
    assert sum(f["rows_in_period"] for f in events) == value
    assert any(f["period"] == "2023-06" for f in events)
    # the enrolments the certificates' villages come from are listed as read
    assert {f["extract_name"] for f in trace["files"] if f["role"] == "reads"} == {"hrss_enrolment"}

    # the models between, from the raw table to the KPI, in build order
    relations = [m["relation"] for m in trace["models"]]
    for expected in ("raw.hrss_certificate", "staging.stg_hrss__certificates", "marts_audit.fct_certificate",
                     "intermediate.kpi_measure_events", "intermediate.kpi_measures_counted",
                     "marts_audit.fct_kpi_value"):
        assert expected in relations, (expected, relations)
    assert relations.index("raw.hrss_certificate") < relations.index("marts_audit.fct_certificate") < relations.index(
        "marts_audit.fct_kpi_value"
    )
    assert relations[-1] == "marts_audit.fct_kpi_value"
    assert not any("enforcement" in r or "health" in r for r in relations), relations

    # the checks that passed on the way: GX and dbt, from the publication's validation run
    checks = trace["checks"]
    assert checks and all(c["success"] for c in checks) and len(checks) < passed_checks
    suites = {(c["suite_name"], c["relation"].split(".")[-1]) for c in checks}
    assert ("dbt", "stg_hrss__certificates") in suites
    assert ("fct_certificate", "fct_certificate") in suites
    assert ("load_manifest", "hrss_certificate") in suites  # manifest vs raw


def test_text_trace_and_errors_name_what_to_do(env):
    text = run_govkpi(["lineage", "hrss_certificates", "--period", "2023-06"], env)
    assert text.returncode == 0, text.stderr
    assert "发放技能证书数" in text.stdout and "sha256" in text.stdout and "checks on the way" in text.stdout
    unknown = run_govkpi(["lineage", "hrss_certificate_count"], env)
    assert unknown.returncode == 2 and "no KPI 'hrss_certificate_count'; the KPIs are:" in unknown.stderr
    bad = run_govkpi(["lineage", "hrss_certificates", "--period", "June"], env)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr
