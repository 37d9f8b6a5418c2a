"""Raw-vs-marts and marts-vs-KPI reconciliation, declared as data and generated here.

The loader's raw rows are the ground truth of what was delivered; the
manifest says which files are current (loaded, not superseded). Which mart
relation is built from which extract, and which amounts must add up to which
KPI, is declared once below (`LINEAGES`, `AMOUNT_TOTALS`); the suite modules
look their relation up and get the checks, so adding a department's marts is
adding rows to those tables, never copying a query.

Two forms of row reconciliation:

- one mart row per current raw row (facts, and the type-2 dimensions whose
  versions are the register's rows): compared file by file through the
  mart's `source_file_id`, so a lost or doubled row names its file;
- one mart row per distinct key (a dimension deduplicated from ledgers that
  repeat it, such as the class ledger): compared as counts.

And the amount totals: the sum of an amount over the current raw rows must
equal the fact's sum (a lost or doubled row, or a changed amount, moves it),
and the fact's sum must equal the sum of the KPI's yearly township totals
over all years (a payment dropped between the fact and the KPI moves it).
"""

from __future__ import annotations

from dataclasses import dataclass

from great_expectations.expectations.expectation import Expectation

from expectations.suites._checks import current_files_sql, raw_relation, row_floor, sql_literal, unexpected_rows
from ingestion.spec import ExtractSpec
from ingestion.specs import enforcement, health, hrss

# The KPI rows a total is compared with: the whole township, one row per
# calendar year, no breakdown (the breakdown rows split the same money again).
KPI_TOTAL_ROWS = "period_grain = 'year' and area_level = 'township' and breakdown_dimension is null"

# Amounts are delivered in yuan to the fen, so sums are exact and the raw
# and fact totals must be equal. The KPI side is allowed less than a fen of
# difference, in case a KPI model stores its sums through a rounding step;
# a lost or doubled payment or fine moves a total by whole yuan.
KPI_TOLERANCE_YUAN = "0.01"


@dataclass(frozen=True)
class Lineage:
    """A mart relation built from the current rows of one extract."""

    table: str
    spec: ExtractSpec
    # True: one row per distinct spec.key (a deduplicated dimension);
    # False: one row per current raw row, carrying source_file_id.
    per_key: bool = False


LINEAGES: tuple[Lineage, ...] = (
    # HR & SS
    Lineage("dim_training_class", hrss.TRAINING_CLASS, per_key=True),
    Lineage("fct_training_enrolment", hrss.ENROLMENT),
    Lineage("fct_certificate", hrss.CERTIFICATE),
    Lineage("fct_job_placement", hrss.PLACEMENT),
    # County health alliance; dim_ward holds one version per register row.
    Lineage("dim_ward", health.WARD),
    Lineage("fct_inpatient_stay", health.ADMISSION),
    Lineage("fct_expert_round", health.EXPERT_ROUND),
    Lineage("fct_remote_reading", health.REMOTE_READING),
    Lineage("fct_medical_aid_payment", health.MEDICAL_AID),
    # Enforcement brigade; dim_officer holds one version per roster row.
    Lineage("dim_officer", enforcement.OFFICER),
    Lineage("fct_enforcement_case", enforcement.CASE),
)


@dataclass(frozen=True)
class AmountTotal:
    """An amount whose total must agree between the raw rows, a fact and a KPI."""

    table: str  # the fact; its Lineage says which extract it comes from
    column: str  # the amount, named the same in the raw table and the fact
    kpi_code: str
    # Which rows the KPI sums, as a condition on columns named the same in
    # the raw table and the fact; empty for every row.
    rows: str = ""
    rows_in_words: str = ""

    @property
    def spec(self) -> ExtractSpec:
        return lineage(self.table).spec


AMOUNT_TOTALS: tuple[AmountTotal, ...] = (
    AmountTotal("fct_medical_aid_payment", "amount_yuan", "health_medical_aid_yuan"),
    # Fines are counted in the year the case is closed, so only closed cases'.
    AmountTotal(
        "fct_enforcement_case",
        "penalty_yuan",
        "enf_penalties_yuan",
        rows="closed_date is not null",
        rows_in_words="closed cases",
    ),
)


def lineage(table: str) -> Lineage:
    """The declared lineage of mart table `table`."""
    for item in LINEAGES:
        if item.table == table:
            return item
    raise KeyError(f"no lineage declared for {table}; add it to LINEAGES in {__name__}")


def amount_totals(table: str) -> tuple[AmountTotal, ...]:
    """The amount totals whose fact is `table`."""
    return tuple(total for total in AMOUNT_TOTALS if total.table == table)


def delivered_row_floor(table: str, relation: str) -> Expectation:
    """The row floor of mart table `table`, once its extract's department has delivered."""
    return row_floor(table=table, relation=relation, department=lineage(table).spec.department)


def reconciliation(table: str, relation: str) -> list[Expectation]:
    """The raw-vs-marts checks of mart table `table`, validated as `relation`.

    Row reconciliation per its declared lineage, plus the raw-vs-marts
    total of every amount declared on it.
    """
    item = lineage(table)
    if item.per_key:
        checks = dimension_reconciliation(item.spec, relation)
    else:
        checks = fact_reconciliation(item.spec, relation)
    return checks + [raw_vs_marts_total(total, relation) for total in amount_totals(table)]


def fact_reconciliation(spec: ExtractSpec, fact_relation: str) -> list[Expectation]:
    """Checks that a relation holds exactly the current raw rows of `spec`, file by file."""
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
                "file by file (current = manifest status 'loaded', not superseded; of a snapshot register, its latest period's file)"
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


def _rows_in_words(total: AmountTotal) -> str:
    return f" of {total.rows_in_words}" if total.rows_in_words else ""


def _where(condition: str) -> str:
    return f"where {condition}" if condition else ""


def raw_vs_marts_total(total: AmountTotal, fact_relation: str) -> Expectation:
    """The fact's total of `total.column` equals the current raw rows' total, to the fen."""
    spec = total.spec
    raw = raw_relation(spec).qualified()
    # The condition is applied inside a subquery of each table alone, so it
    # can name the shared columns without an alias.
    query = f"""
        with current_files as ({current_files_sql(spec)}),
        raw_total as (
            select coalesce(sum(r.{total.column}), 0) as amount, count(r.{total.column}) as amounts
            from (select * from {raw} {_where(total.rows)}) as r
            join current_files as f on f.file_id = r._file_id
        ),
        mart_total as (
            select coalesce(sum(fct.{total.column}), 0) as amount, count(fct.{total.column}) as amounts
            from (select * from {{batch}} as b {_where(total.rows)}) as fct
        )
        select
            raw_total.amount as current_raw_total,
            mart_total.amount as mart_total,
            mart_total.amount - raw_total.amount as difference,
            raw_total.amounts as current_raw_amounts,
            mart_total.amounts as mart_amounts
        from raw_total
        cross join mart_total
        where raw_total.amount <> mart_total.amount
    """
    return unexpected_rows(
        check=f"raw vs marts: {spec.name} {total.column} total",
        expected=(
            f"sum({total.column}){_rows_in_words(total)} in {fact_relation} to equal the sum over "
            f"the current {raw} rows"
        ),
        relation=fact_relation,
        query=query,
    )


def marts_vs_kpi_total(total: AmountTotal, kpi_relation: str, fact_relation: str) -> Expectation:
    """The KPI's yearly township totals, over all years, add up to the fact's total.

    Validated on the KPI relation: when the fact agrees with the raw rows
    (the raw-vs-marts total) but not with the KPI, the KPI is at fault.
    """
    query = f"""
        with kpi_total as (
            select coalesce(sum(v.value), 0) as amount, count(*) as kpi_rows
            from (
                select * from {{batch}} as b
                where kpi_code = {sql_literal(total.kpi_code)} and {KPI_TOTAL_ROWS}
            ) as v
        ),
        mart_total as (
            select coalesce(sum(fct.{total.column}), 0) as amount
            from (select * from {fact_relation} {_where(total.rows)}) as fct
        )
        select
            {sql_literal(total.kpi_code)} as kpi_code,
            kpi_total.amount as kpi_total,
            mart_total.amount as mart_total,
            kpi_total.amount - mart_total.amount as difference,
            kpi_total.kpi_rows as kpi_year_rows
        from kpi_total
        cross join mart_total
        where abs(kpi_total.amount - mart_total.amount) >= {KPI_TOLERANCE_YUAN}
    """
    return unexpected_rows(
        check=f"marts vs KPI: {total.kpi_code} total",
        expected=(
            f"the {total.kpi_code} values of {kpi_relation} (period_grain 'year', area_level 'township', "
            "no breakdown), summed over all years, "
            f"to equal sum({total.column}){_rows_in_words(total)} in {fact_relation} "
            f"(within {KPI_TOLERANCE_YUAN} yuan)"
        ),
        relation=kpi_relation,
        query=query,
    )
