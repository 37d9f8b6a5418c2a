"""OpenLineage: the events a run writes validate against the specification, and the marts' carry column lineage.

The events are those of the session's `govkpi run` of the samples
(`sample_publication`), written by OpenLineage's file transport into the
state folder: Airflow's provider for every task and DAG run, and govkpi's
dbt processor for every dbt node of the build. The specification's JSON
schemas are read from ../shared/openlineage-spec/ (GOVKPI_OPENLINEAGE_SPEC_DIR
elsewhere); they are not part of the project, and without them the
validation tests are skipped, saying so.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from conftest import openlineage_spec_dir

from govkpi import openlineage as ol
from govkpi.settings import load_settings
from govkpi.transform import ensure_manifest

pytestmark = [pytest.mark.integration]

SPEC_DIR = openlineage_spec_dir()
needs_spec = pytest.mark.skipif(
    SPEC_DIR is None,
    reason="the OpenLineage specification's JSON schemas are not here: they are read from ../shared/openlineage-spec/ "
    "(or GOVKPI_OPENLINEAGE_SPEC_DIR), which this machine does not have",
)
WAREHOUSE_DAG = "govkpi_warehouse"
BUILD_TASK = "build_audit"


@pytest.fixture(scope="module")
def events(sample_publication) -> list[tuple[Path, dict]]:
    found = list(ol.read_events(sample_publication.openlineage_files))
    assert found, "the sample run wrote no OpenLineage events"
    return found


@pytest.fixture(scope="module")
def validator() -> ol.SpecValidator:
    assert SPEC_DIR is not None
    return ol.SpecValidator(SPEC_DIR)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(load_settings()).read_text())


@pytest.fixture(scope="module")
def marts(manifest) -> dict[str, dict]:
    return {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "marts" in n["tags"]
    }


@needs_spec
def test_every_event_of_the_run_validates_against_the_specification(events, validator):
    invalid = [problem for path, event in events for problem in validator.errors(path, event)]
    assert not invalid, f"{len(invalid)} schema violations, the first:\n" + "\n".join(map(str, invalid[:10]))
    kinds = Counter(e["eventType"] for _, e in events)
    assert kinds["START"] and kinds["COMPLETE"], kinds
    # The specification's own facets were checked one by one, not only as opaque objects.
    checked = {f["_schemaURL"].split("#")[0].rsplit("/", 1)[1] for _, e in events for _, f in ol._facets(e)}
    assert {"ColumnLineageDatasetFacet.json", "ParentRunFacet.json", "SchemaDatasetFacet.json"} <= checked


@needs_spec
def test_the_validator_refuses_what_the_specification_refuses(events, validator):
    """It can fail: a broken core field, and a broken column-lineage facet, are each reported where they are."""
    path, event = next((p, e) for p, e in events if any("columnLineage" in o.get("facets", {}) for o in e.get("outputs", [])))
    assert validator.errors(path, event) == []

    no_time = copy.deepcopy(event)
    del no_time["eventTime"]
    assert any("eventTime" in p.message for p in validator.errors(path, no_time))

    bad_lineage = copy.deepcopy(event)
    output = next(o for o in bad_lineage["outputs"] if "columnLineage" in o.get("facets", {}))
    field = next(iter(output["facets"]["columnLineage"]["fields"].values()))
    field["inputFields"] = [{"namespace": "postgres://x", "name": "t"}]  # no "field"
    problems = validator.errors(path, bad_lineage)
    assert problems and all("columnLineage" in p.where for p in problems), problems


def test_every_airflow_task_of_the_publishing_run_started_and_completed(events, sample_publication, state_dir):
    """The task instances of the warehouse run that published (Airflow's own record) each have their events."""
    import sqlite3

    with psycopg.connect(sample_publication.url) as conn:
        [run_id] = conn.execute("select airflow_run_id from audit.publication order by publication_id limit 1").fetchone()
    with sqlite3.connect(state_dir / "airflow" / "airflow.db") as meta:
        task_ids = [t for (t,) in meta.execute(
            "select task_id from task_instance where dag_id = ? and run_id = ?", (WAREHOUSE_DAG, run_id)
        )]
    assert sorted(task_ids) == sorted(["validate_raw", BUILD_TASK, "validate_audit", "publish", "document"]), task_ids
    by_task = Counter((e["job"]["name"], e["eventType"]) for _, e in events)
    missing = [
        f"{task_id} {kind}"
        for task_id in task_ids
        for kind in ("START", "COMPLETE")
        if not by_task[(f"{WAREHOUSE_DAG}.{task_id}", kind)]
    ]
    assert not missing, f"no OpenLineage event for: {missing[:10]}"
    # And the DAG run itself, the root of every task's event.
    assert by_task[(WAREHOUSE_DAG, "COMPLETE")], "no COMPLETE event for the warehouse DAG run"


def test_each_mart_built_by_dbt_has_its_own_event_with_column_lineage_for_every_column(events, manifest, marts, sample_publication):
    """One COMPLETE event per mart model, a child of the Airflow task that ran `dbt build`; its column lineage names every column."""
    seeds = {f"{n['schema']}.{n['alias']}" for n in manifest["nodes"].values() if n["resource_type"] == "seed"}
    with psycopg.connect(sample_publication.url) as conn:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'marts'"
        ):
            columns.setdefault(table, set()).add(column)
    assert set(columns) == set(marts)

    build_runs, children = ol.child_completes((e for _, e in events), f"{WAREHOUSE_DAG}.{BUILD_TASK}")
    assert len(build_runs) == 1, build_runs
    dbt_completes: dict[str, dict] = {}
    for event in children:
        for output in event.get("outputs", []):
            schema, table = output["name"].split(".")[-2:]
            if schema == "marts_audit":
                dbt_completes[table] = event

    for name, node in sorted(marts.items()):
        assert name in dbt_completes, f"no dbt COMPLETE event for the mart {name}"
        event = dbt_completes[name]
        assert event["job"]["name"].endswith(f".{name}.build.run"), event["job"]["name"]
        [output] = [o for o in event["outputs"] if o["name"].endswith(f".marts_audit.{name}")]
        lineage = output["facets"].get("columnLineage")
        assert lineage, f"{name}: no column lineage"
        assert set(lineage["fields"]) == columns[name], (name, columns[name] ^ set(lineage["fields"]))
        # Every input column of a warehouse table (database.schema.table) comes from a model or
        # source the event lists as read, or from a seed (OpenLineage's dbt processor does not
        # list seeds among a model's inputs). The SQL parser also names set-returning functions
        # (generate_series) and some CTEs as unqualified inputs; those are not tables.
        inputs = {i["name"].split(".", 1)[1] for i in event.get("inputs", [])}
        qualified = 0
        for column, field in lineage["fields"].items():
            for source in field["inputFields"]:
                if source["name"].count(".") == 2:
                    qualified += 1
                    assert source["name"].split(".", 1)[1] in inputs | seeds, (name, column, source)
        assert qualified or name == "dim_date", f"{name}: no column traced to a table"
        # The schema facet is the documented columns, with their descriptions.
        documented = {c: d.get("description") for c, d in node["columns"].items()}
        assert set(documented) == columns[name], (name, set(documented) ^ columns[name])
        assert all(documented.values()), f"{name}: undocumented columns {[c for c, d in documented.items() if not d]}"
        schema_fields = {f["name"] for f in output["facets"]["schema"]["fields"]}
        assert schema_fields == columns[name], name

    # The KPI fact reads the staging facts it counts: lineage reaches the raw side.
    kpi_inputs = {i["name"].split(".")[-2] for i in dbt_completes["fct_kpi_value"]["inputs"]}
    assert kpi_inputs <= {"marts_audit", "staging", "intermediate"} and "marts_audit" in kpi_inputs, kpi_inputs


def test_dbt_tests_report_their_assertions(events):
    """dbt's data tests are events too, with the assertions they made on the dataset they tested."""
    assertions = [
        a
        for _, e in events
        for i in e.get("inputs", [])
        for a in (i.get("inputFacets", {}).get("dataQualityAssertions", {}).get("assertions") or [])
    ]
    assert assertions and all(a["success"] for a in assertions), [a for a in assertions if not a["success"]][:5]


def test_events_go_to_files_unless_the_user_chose_a_transport(tmp_path):
    default = ol.transport_env(tmp_path, {})
    assert default["AIRFLOW__OPENLINEAGE__DISABLED"] == "false"
    assert json.loads(default["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == {
        "type": "file", "log_file_path": str(tmp_path / "openlineage" / "event"), "append": False,
    }
    marquez = '{"type": "http", "url": "http://marquez:5000", "endpoint": "api/v1/lineage"}'
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in ol.transport_env(tmp_path, {"AIRFLOW__OPENLINEAGE__TRANSPORT": marquez})
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in ol.transport_env(tmp_path, {"OPENLINEAGE_URL": "http://marquez:5000"})
    assert ol.transport_env(tmp_path, {"AIRFLOW__OPENLINEAGE__DISABLED": "true"})["AIRFLOW__OPENLINEAGE__DISABLED"] == "true"
    # docker-compose.yml sets the same for its workers.
    import yaml

    from govkpi.settings import PROJECT_ROOT

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    common = compose["x-airflow-common"]["environment"]
    assert common["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] == default["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"]
