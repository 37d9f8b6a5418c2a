"""Raw-vs-marts reconciliation, shared by the suites of relations built from one extract.

The loader's raw rows are the ground truth of what was delivered; the
manifest says which files are current (loaded, not superseded). A fact must
hold exactly one row per current raw row and nothing from other files; a
dimension built from an extract must hold one row per distinct key of the
current raw rows.
"""

from __future__ import annotations

from great_expectations.expectations.expectation import Expectation

from expectations.suites._checks import current_files_sql, raw_relation, unexpected_rows
from ingestion.spec import ExtractSpec


def fact_reconciliation(spec: ExtractSpec, fact_relation: str) -> list[Expectation]:
    """Checks that a fact table holds exactly the current raw rows of `spec`, file by file."""
    raw = raw_relation(spec).qualified()
    fact = fact_relation.split(".")[-1]
    per_file = f"""
        with current_files as ({current_files_sql(spec)}),
        raw_rows as (
            select r._file_id as file_id, count(*) as row_count
            from {raw} as r
            join current_files as f on f.file_id = r._file_id
            group by r._file_id
        ),
        mart_rows as (
            select fct.source_file_id as file_id, count(*) as row_count
            from {{batch}} as fct
            group by fct.source_file_id
        )
        select
            f.file_id,
            coalesce(r.row_count, 0) as current_raw_rows,
            coalesce(m.row_count, 0) as mart_rows
        from current_files as f
        left join raw_rows as r on r.file_id = f.file_id
        left join mart_rows as m on m.file_id = f.file_id
        where coalesce(r.row_count, 0) <> coalesce(m.row_count, 0)
        order by f.file_id
    """
    stale = f"""
        with current_files as ({current_files_sql(spec)})
        select fct.source_file_id, count(*) as mart_rows
        from {{batch}} as fct
        left join current_files as f on f.file_id = fct.source_file_id
        where f.file_id is null
        group by fct.source_file_id
        order by fct.source_file_id
    """
    return [
        unexpected_rows(
            check=f"raw vs marts: {spec.name} rows per current file",
            expected=(
                f"{fact_relation} to hold one row per current {raw} row, "
                "file by file (current = manifest status 'loaded', not superseded)"
            ),
            relation=fact_relation,
            query=per_file,
        ),
        unexpected_rows(
            check=f"raw vs marts: {fact} rows come from current {spec.name} files",
            expected=f"every {fact_relation}.source_file_id to be a current {spec.name} file in the load manifest",
            relation=fact_relation,
            query=stale,
        ),
    ]


def dimension_reconciliation(spec: ExtractSpec, dimension_relation: str) -> list[Expectation]:
    """Check that a dimension holds one row per distinct key of the current raw rows of `spec`.

    A dimension is deduplicated on the extract's key (the same class appears
    in every monthly ledger), so rows are compared with distinct keys, not
    raw rows.
    """
    raw = raw_relation(spec).qualified()
    key = ", ".join(f"r.{column}" for column in spec.key)
    query = f"""
        with current_files as ({current_files_sql(spec)}),
        raw_keys as (
            select count(distinct ({key})) as key_count
            from {raw} as r
            join current_files as f on f.file_id = r._file_id
        ),
        mart_rows as (
            select count(*) as row_count from {{batch}} as dim
        )
        select raw_keys.key_count as current_raw_keys, mart_rows.row_count as mart_rows
        from raw_keys
        cross join mart_rows
        where raw_keys.key_count <> mart_rows.row_count
    """
    return [
        unexpected_rows(
            check=f"raw vs marts: {spec.name} rows",
            expected=(
                f"{dimension_relation} to hold one row per distinct ({', '.join(spec.key)}) "
                f"among the current {raw} rows"
            ),
            relation=dimension_relation,
            query=query,
        )
    ]
