"""The schema diagram in docs/ is generated from the dbt project and kept current."""

from __future__ import annotations

from govkpi.schema_diagram import OUTPUT, build_manifest, render
from govkpi.settings import load_settings
from govkpi.settings import PROJECT_ROOT


def test_docs_schema_diagram_matches_the_models():
    manifest = build_manifest(load_settings())
    text = render(manifest)
    for table in ("fct_kpi_value", "dim_ward", "dim_officer", "fct_enforcement_case", "fct_inpatient_stay"):
        assert f"    {table} {{" in text
    assert 'dim_person ||--o{ fct_training_enrolment : "person_key"' in text
    committed = (PROJECT_ROOT / OUTPUT).read_text()
    assert committed == text, "docs/schema.md is stale: run .venv/bin/govkpi schema-diagram"
