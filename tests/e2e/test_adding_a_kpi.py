"""Adding a count KPI, as docs/adding-a-kpi.md shows it, publishes it.

In a temporary copy of the dbt project: one registry row in
dbt_project.yml, one row in seeds/kpi_definitions.csv and its unit test,
nothing else. `govkpi run` of the bundled samples with that project then
publishes the new KPI through the gate (which requires every KPI of a
department that delivered), and the published figures are those the
warehouse's own facts give. Then `govkpi lineage` traces it.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, SAMPLE_DIR, _create_database, _drop_database, govkpi_env, run_govkpi

pytestmark = [pytest.mark.integration]

CODE = "enf_cases_fined"

# The three additions of docs/adding-a-kpi.md, verbatim from there.
DOC = (ROOT / "docs" / "adding-a-kpi.md").read_text(encoding="utf-8")


def _block(marker: str) -> str:
    """The fenced block of the doc that follows `marker`."""
    start = DOC.index("```", DOC.index(marker))
    body = DOC.index("\n", start) + 1
    return DOC[body : DOC.index("```", body)]


REGISTRY_ROW = _block("<!-- registry row -->")
CATALOGUE_ROW = _block("<!-- catalogue row -->")
UNIT_TEST = _block("<!-- unit test -->")


@pytest.fixture(scope="module")
def project_with_new_kpi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project") / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    config = project / "dbt_project.yml"
    text = config.read_text(encoding="utf-8")
    anchor = "\n  # The breakdowns a measure may have"
    assert anchor in text
    config.write_text(text.replace(anchor, "\n" + REGISTRY_ROW.rstrip("\n") + anchor, 1), encoding="utf-8")
    seed = project / "seeds" / "kpi_definitions.csv"
    seed.write_text(seed.read_text(encoding="utf-8").rstrip("\n") + "\n" + CATALOGUE_ROW, encoding="utf-8")
    tests = project / "models" / "kpi" / "kpi_measure_events.yml"
    tests.write_text(tests.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + UNIT_TEST, encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def run(project_with_new_kpi: Path, pg_admin_url: str, state_dir: Path):
    name = f"govkpi_newkpi_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name)
    env = govkpi_env(url, state_dir, GOVKPI_DBT_PROJECT_DIR=str(project_with_new_kpi))
    try:
        proc = run_govkpi(["run", "--extracts", str(SAMPLE_DIR)], env)
        yield url, env, proc
    finally:
        _drop_database(pg_admin_url, name)


def test_the_doc_adds_one_registry_row_one_catalogue_row_and_a_unit_test_naming_the_kpi():
    assert REGISTRY_ROW.count("\n") == 1 and f"measure: {CODE}," in REGISTRY_ROW
    assert CATALOGUE_ROW.count("\n") == 1 and CATALOGUE_ROW.startswith(f"{CODE},")
    assert f"measure_code: {CODE}" in UNIT_TEST and "model: kpi_measure_events" in UNIT_TEST


def test_a_kpi_added_in_a_copy_of_the_project_is_published(run):
    url, _, proc = run
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    with psycopg.connect(url) as conn:
        [catalogued] = conn.execute("select count(*) from marts.dim_kpi where kpi_code = %s", (CODE,)).fetchone()
        assert catalogued == 1
        published = {
            (grain, str(start), level, area, member): value
            for grain, start, level, area, member, value in conn.execute(
                "select period_grain, period_start_date, area_level, area_code, breakdown_member, value "
                "from marts.fct_kpi_value where kpi_code = %s",
                (CODE,),
            )
        }
        # The same figures straight from the published fact: cases closed with a fine, by year.
        expected = dict(
            conn.execute(
                "select extract(year from closed_date)::int, count(distinct case_id) from marts.fct_enforcement_case "
                "where closed_date is not null and penalty_yuan > 0 group by 1"
            ).fetchall()
        )
        by_domain = dict(
            conn.execute(
                "select d.enforcement_domain_code, count(distinct c.case_id) from marts.fct_enforcement_case as c "
                "join marts.dim_enforcement_domain as d using (enforcement_domain_key) "
                "where c.closed_date between '2023-01-01' and '2023-12-31' and c.penalty_yuan > 0 group by 1"
            ).fetchall()
        )
        [village_rows] = conn.execute(
            "select count(*) from marts.fct_kpi_value where kpi_code = %s and area_level = 'village'", (CODE,)
        ).fetchone()
    assert expected and expected.get(2023, 0) > 0, expected
    for year, count in expected.items():
        assert published[("year", f"{year}-01-01", "township", "township", None)] == count
    for domain, count in by_domain.items():
        assert published[("year", "2023-01-01", "township", "township", domain)] == count
    assert village_rows > 0, "a village-level count KPI has village rows"


def test_the_new_kpi_traces_to_its_fact_and_files(run):
    _, env, proc = run
    assert proc.returncode == 0
    trace = run_govkpi(["lineage", CODE, "--period", "2023-06", "--json"], env)
    assert trace.returncode == 0, trace.stderr
    data = json.loads(trace.stdout)
    relations = [m["relation"] for m in data["models"]]
    assert "marts_audit.fct_enforcement_case" in relations and relations[-1] == "marts_audit.fct_kpi_value"
    events = [f for f in data["files"] if f["role"] == "events"]
    assert events and {f["extract_name"] for f in events} == {"enf_case"}
    # the files hold exactly the fined cases closed in June that the value counts
    [june] = [v["value"] for v in data["values"] if v["breakdown_member"] is None]
    assert sum(f["rows_in_period"] for f in events) == june
