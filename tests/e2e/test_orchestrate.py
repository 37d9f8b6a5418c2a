"""The local runner and the build task's failure message, without a whole pipeline run.

- `failure_lines` (govkpi.transform; the `build_audit` task's DbtFailed
  message) names each failing node with the model it is defined on, and
  what dbt skipped because of it, from dbt's own run_results and manifest.
- `run_dags` (govkpi run's one Airflow process, docs/adr/0015): a run that
  cannot start is reported as failed with Airflow's reason, and the runs
  after it are not started.
"""

from __future__ import annotations

import pytest

from govkpi import orchestrate
from govkpi.settings import load_settings
from govkpi.transform import failure_lines


def test_failure_lines_name_the_failing_test_its_model_and_what_dbt_skipped():
    manifest = {
        "nodes": {
            "test.govkpi.relationships_fct_job_placement_class.c1": {"attached_node": "model.govkpi.fct_job_placement"},
            "test.govkpi.not_null_dim_area_area_key.c2": {"attached_node": "model.govkpi.dim_area"},
        },
        "unit_tests": {"unit_test.govkpi.fct_kpi_value.rates": {"model": "fct_kpi_value"}},
    }
    skipped = [f"model.govkpi.int_model_{i:02d}" for i in range(14)]
    results = {
        "results": [
            {"unique_id": "model.govkpi.fct_job_placement", "status": "success"},
            {"unique_id": "test.govkpi.relationships_fct_job_placement_class.c1", "status": "fail", "message": "Got 1 result"},
            {"unique_id": "test.govkpi.not_null_dim_area_area_key.c2", "status": "pass"},
            {"unique_id": "unit_test.govkpi.fct_kpi_value.rates", "status": "fail", "message": "actual differs\n"},
            *({"unique_id": uid, "status": "skipped"} for uid in skipped),
            {"unique_id": "test.govkpi.unique_int_model_00_key.c3", "status": "skipped"},
        ]
    }
    lines = failure_lines(results, manifest)
    assert lines == [
        "test.govkpi.relationships_fct_job_placement_class.c1 (on fct_job_placement): fail - Got 1 result",
        "unit_test.govkpi.fct_kpi_value.rates (on fct_kpi_value): fail - actual differs",
        "not built because of these failures (14 models): "
        + ", ".join(f"int_model_{i:02d}" for i in range(12))
        + " and 2 more",
    ]


@pytest.mark.airflow
def test_a_run_that_cannot_start_is_reported_and_stops_the_runs_after_it(tmp_path):
    settings = load_settings(
        {"GOVKPI_STATE_DIR": str(tmp_path / "state"), "GOVKPI_WAREHOUSE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    )
    env = orchestrate.airflow_env(settings, {"GOVKPI_STATE_DIR": str(settings.state_dir)})
    orchestrate.ensure_metadata_db(settings, env)
    requests = [orchestrate.DagRunRequest("govkpi_no_such_dag"), orchestrate.DagRunRequest(orchestrate.WAREHOUSE_DAG)]

    results = list(orchestrate.run_dags(settings, env, requests))

    [result] = results
    assert result.dag_id == "govkpi_no_such_dag" and not result.ok
    assert any("'govkpi_no_such_dag' could not be found" in line for line in result.errors), result.errors
    assert result.log_file.is_file() and result.log_file.parent == settings.state_dir / "logs"
    # Stopped after the failure: the warehouse DAG never ran.
    assert orchestrate.task_seconds(settings, orchestrate.WAREHOUSE_DAG, "") == {}
    assert orchestrate._last_run(settings, orchestrate.WAREHOUSE_DAG)[1] == "not started"
