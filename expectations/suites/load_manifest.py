"""Suite for `audit.load_manifest`: the manifest reconciles with the raw tables.

The manifest records how many rows the loader wrote for each file. For every
current file (status 'loaded', not superseded) the raw table of its extract
must hold exactly that many rows carrying its `_file_id`: a lost or doubled
raw row fails the gate before any KPI is computed from it. The checks are
generated from the extract specs, so a new department's extracts are
reconciled without touching this module.
"""

from __future__ import annotations

import great_expectations as gx
from great_expectations.expectations.expectation import Expectation

from expectations.suites._checks import MANIFEST, raw_relation, sql_literal, unexpected_rows
from ingestion.spec import ExtractSpec
from ingestion.specs import all_extracts

RELATION = MANIFEST
READS = tuple(raw_relation(spec) for spec in all_extracts())


def _rows_per_file(spec: ExtractSpec) -> Expectation:
    raw = raw_relation(spec).qualified()
    query = f"""
        with current_files as (
            select m.file_id, m.rows_loaded
            from {{batch}} as m
            where m.extract_name = {sql_literal(spec.name)}
              and m.status = 'loaded'
              and m.superseded_by_file_id is null
        ),
        raw_rows as (
            select r._file_id as file_id, count(*) as row_count
            from {raw} as r
            join current_files as f on f.file_id = r._file_id
            group by r._file_id
        )
        select
            {sql_literal(spec.name)} as extract_name,
            f.file_id,
            f.rows_loaded as manifest_rows_loaded,
            coalesce(r.row_count, 0) as raw_rows
        from current_files as f
        left join raw_rows as r on r.file_id = f.file_id
        where coalesce(r.row_count, 0) <> f.rows_loaded
        order by f.file_id
    """
    return unexpected_rows(
        check=f"manifest vs raw: {spec.name} rows per current file",
        expected=f"{raw} to hold exactly rows_loaded rows for every current {spec.name} file in the manifest",
        relation=raw,
        query=query,
    )


def _rows_without_file(spec: ExtractSpec) -> Expectation:
    raw = raw_relation(spec).qualified()
    query = f"""
        select r._file_id as file_id, count(*) as raw_rows
        from {raw} as r
        left join {{batch}} as m
            on m.file_id = r._file_id and m.extract_name = {sql_literal(spec.name)}
        where m.file_id is null
        group by r._file_id
        order by r._file_id
    """
    return unexpected_rows(
        check=f"manifest vs raw: {spec.name} rows have a manifest file",
        expected=f"every {raw} row's _file_id to be a {spec.name} file recorded in the manifest",
        relation=raw,
        query=query,
    )


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """The manifest-vs-raw reconciliation, two checks per extract spec.

    `candidate_schema` is unused: the manifest and raw tables sit outside the
    audit build; the parameter keeps every suite module's signature the same.
    """
    del candidate_schema
    checks: list[Expectation] = []
    for spec in all_extracts():
        checks += [_rows_per_file(spec), _rows_without_file(spec)]
    return gx.ExpectationSuite(name=RELATION.table, expectations=checks)
