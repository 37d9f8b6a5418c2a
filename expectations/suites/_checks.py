"""Building blocks the suite modules share: relations, named checks and SQL snippets.

Every expectation the gate runs is built here, so each carries the same
metadata: a short stable check name (what a failure report and
`audit.validation_result.check_name` show), what was expected in plain words,
and the relation at fault. The gate turns a failed result into a message
from that metadata plus what GX observed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from great_expectations.expectations.expectation import Expectation

from expectations.errors import GateError
from ingestion.ddl import AUDIT_SCHEMA, RAW_SCHEMA
from ingestion.spec import ExtractSpec

# Unquoted lowercase identifiers only: schema and table names are written into
# the SQL of the checks, so anything else is refused rather than quoted.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def checked_identifier(name: str, what: str = "schema") -> str:
    """Return `name` if it is a plain lowercase SQL identifier, else raise GateError."""
    if not _IDENTIFIER.fullmatch(name):
        raise GateError(
            f"{what} name {name!r} is not a plain lowercase SQL identifier "
            "(letters, digits and underscores, starting with a letter or underscore); "
            "pass the schema the dbt audit build writes to, e.g. 'marts_audit'"
        )
    return name


@dataclass(frozen=True)
class Relation:
    """A table the gate reads. `schema=None` means the candidate (audit build) schema."""

    table: str
    schema: str | None = None

    def qualified(self, candidate_schema: str | None = None) -> str:
        """`schema.table`; a candidate-schema relation needs `candidate_schema` to say which schema."""
        if self.schema is not None:
            return f"{self.schema}.{self.table}"
        if candidate_schema is None:
            raise ValueError(f"{self.table} lives in the candidate schema; pass candidate_schema")
        return f"{checked_identifier(candidate_schema)}.{self.table}"


MANIFEST = Relation("load_manifest", AUDIT_SCHEMA)


def candidate(table: str) -> Relation:
    """A relation of the dbt audit build, in whichever schema the gate is pointed at."""
    return Relation(table)


def raw_relation(spec: ExtractSpec) -> Relation:
    return Relation(spec.table, RAW_SCHEMA)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def current_files_sql(spec: ExtractSpec) -> str:
    """Manifest files of one extract whose rows are current: loaded and not superseded.

    For a snapshot extract (a register delivered whole each period), only
    the latest period's file: the marts hold that snapshot, not the sum of
    all of them (the same rule as dbt's stg_audit__load_manifest).
    """
    live = (
        f"select file_id, rows_loaded, period from {MANIFEST.qualified()} "
        f"where extract_name = {sql_literal(spec.name)} "
        "and status = 'loaded' and superseded_by_file_id is null"
    )
    if spec.delivery == "events":
        return f"select file_id, rows_loaded from ({live}) as live"
    return (
        f"select file_id, rows_loaded from ({live}) as live "
        f"where {PERIOD_END_SQL.format(period='live.period')} = "
        f"(select max({PERIOD_END_SQL.format(period='l.period')}) from ({live}) as l)"
    )


# Last day of a period '2023' or '2023-03' (as in dbt's stg_audit__load_manifest).
# (No regex: GX treats braces in a query as placeholders.)
PERIOD_END_SQL = (
    "(case when length({period}) = 4 then cast({period} || '-12-31' as date) "
    "else cast(cast({period} || '-01' as date) + interval '1 month - 1 day' as date) end)"
)


def _meta(check: str, expected: str, relation: str) -> dict[str, Any]:
    return {"check": check, "expected": expected, "relation": relation, "owner": "govkpi"}


def named(expectation_type: type[Expectation], *, check: str, expected: str, relation: str, **kwargs: Any) -> Expectation:
    """One expectation carrying its check name, its expectation in words and its relation."""
    return expectation_type(
        description=f"{check}: expected {expected}",
        meta=_meta(check, expected, relation),
        **kwargs,
    )


def unexpected_rows(*, check: str, expected: str, relation: str, query: str) -> Expectation:
    """A check written as SQL returning the offending rows, each row naming what is wrong.

    GX substitutes `{batch}` differently depending on the query: if the text
    contains JOIN anywhere, `{batch}` becomes a bare parenthesised subquery
    the query must alias itself (`{batch} as m`); otherwise it becomes
    `(...) AS subselect` and an alias of our own is a syntax error. This
    helper enforces the matching form so the mistake fails at suite build
    time, not as a confusing failed check.
    """
    has_join = re.search(r"\bjoin\b", query, re.IGNORECASE) is not None
    aliased = re.search(r"\{batch\}\s+as\s+\w+", query) is not None
    if "{batch}" not in query:
        raise ValueError(f"check {check!r}: query must read the validated relation through {{batch}}")
    if has_join != aliased:
        form = "alias {batch} (a query with a join)" if has_join else "leave {batch} unaliased (no join)"
        raise ValueError(f"check {check!r}: {form}; GX rewrites {{batch}} differently in each case")
    return named(
        gx.expectations.UnexpectedRowsExpectation,
        check=check,
        expected=expected,
        relation=relation,
        unexpected_rows_query=query,
    )


def department_has_current_files_sql(department: str) -> str:
    """A condition true when the manifest holds a current file of `department`."""
    return (
        f"exists (select 1 from {MANIFEST.qualified()} "
        f"where department = {sql_literal(department)} "
        "and status = 'loaded' and superseded_by_file_id is null)"
    )


def row_floor(*, table: str, relation: str, department: str | None = None, min_rows: int = 1) -> Expectation:
    """The relation is not empty: an audit build without rows must never be published.

    With `department`, the floor holds only once that department has a
    current file in the load manifest: a department that has not delivered
    yet leaves its facts empty, and that alone must not block publishing
    the others. The floor then still catches a department that delivered
    some extracts but whose fact came out empty (an extract never arrived,
    or the model dropped every row), which per-file reconciliation cannot
    see when there is no file to reconcile.
    """
    if department is None:
        return named(
            gx.expectations.ExpectTableRowCountToBeBetween,
            check=f"contract: {table} has rows",
            expected=f"at least {min_rows} row(s) in {relation}",
            relation=relation,
            min_value=min_rows,
        )
    query = f"""
        select count(*) as mart_rows
        from {{batch}}
        having count(*) < {int(min_rows)}
           and {department_has_current_files_sql(department)}
    """
    return unexpected_rows(
        check=f"contract: {table} has rows",
        expected=(
            f"at least {min_rows} row(s) in {relation} once department {department!r} "
            "has a current file in the load manifest"
        ),
        relation=relation,
        query=query,
    )
