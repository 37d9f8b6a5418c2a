"""The KPI value ledger: every value ever published, with the publication that first published it and the one that replaced it.

`marts` holds only the live publication (each publish swaps it whole). The
ledger, `audit.kpi_value_ledger` (migration 10, docs/adr/0028), keeps every
published `fct_kpi_value` row with `published_in` (the publication that
first published that value) and `replaced_in` (the one that changed or
withdrew it; null while it is live). Publish maintains it in its own
transaction, so the ledger's live rows are always the live publication's.

From it:
- `values_as_of(conn, at)`: exactly what was public at a moment (the rows
  of the newest publication made by then);
- `diff(conn, a, b)`: the values that differ between two publications,
  each with the files of that KPI's department that differ between them:
  the restatements a corrected delivery caused, and why.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from govkpi import schemas
from govkpi.errors import GovkpiError

log = logging.getLogger(__name__)

LEDGER = f"{schemas.AUDIT}.kpi_value_ledger"
KEY = ("kpi_code", "period_grain", "period_start_date", "area_level", "area_code", "breakdown_dimension", "breakdown_member")
MEASURES = ("value", "numerator", "denominator")
COLUMNS = KEY + MEASURES
# A row's identity as equalities a hash join can use (a breakdown's null, the total, as '').
_SAME_ROW = " and ".join(
    f"coalesce({{a}}.{c}, '') = coalesce({{b}}.{c}, '')" if c.startswith("breakdown_") else f"{{a}}.{c} = {{b}}.{c}"
    for c in KEY
)
_SAME_VALUES = " and ".join(f"{{a}}.{c} is not distinct from {{b}}.{c}" for c in MEASURES)


class LedgerError(GovkpiError):
    """A question the ledger cannot answer (an unknown publication, a moment before the first)."""


def _same_row(a: str, b: str) -> str:
    return _SAME_ROW.format(a=a, b=b)


def _same_values(a: str, b: str) -> str:
    return _SAME_VALUES.format(a=a, b=b)


def record_publication(conn: psycopg.Connection, publication_id: int, *, published_schema: str, validation_run_id: int) -> tuple[int, int]:
    """Bring the ledger to publication `publication_id`, in the caller's transaction; returns (values added, values replaced).

    Only the KPI partitions the validation run found different from the
    previous publication can hold changes (docs/adr/0026): those are
    compared, unless the ledger has no live row (a first publication, or the
    first since the ledger exists), when every row is recorded.
    """
    fact = f"{published_schema}.fct_kpi_value"
    live_rows = conn.execute(f"select exists (select 1 from {LEDGER} where replaced_in is null)").fetchone()
    scoped = bool(live_rows and live_rows[0]) and _has_scope(conn, validation_run_id, publication_id)
    in_scope = (
        f"and (%(kpi)s.kpi_code, %(kpi)s.period_grain, %(kpi)s.period_start_date) in ("
        "select kpi_code, period_grain, period_start_date from audit.validation_kpi_scope "
        f"where validation_run_id = {int(validation_run_id)})"
    ) if scoped else ""
    conn.execute(
        f"create temporary table ledger_new on commit drop as "
        f"select {', '.join('v.' + c for c in COLUMNS)} from {fact} as v where true {in_scope % {'kpi': 'v'} if in_scope else ''}"
    )
    conn.execute("analyze ledger_new")
    replaced = conn.execute(
        f"""
        update {LEDGER} as l set replaced_in = %s
        where l.replaced_in is null {in_scope % {'kpi': 'l'} if in_scope else ''}
          and not exists (
              select 1 from ledger_new as n where {_same_row('n', 'l')} and {_same_values('n', 'l')}
          )
        """,
        (publication_id,),
    ).rowcount
    added = conn.execute(
        f"""
        insert into {LEDGER} ({', '.join(COLUMNS)}, published_in)
        select {', '.join('n.' + c for c in COLUMNS)}, %s
        from ledger_new as n
        where not exists (
            select 1 from {LEDGER} as l where l.replaced_in is null and {_same_row('n', 'l')}
        )
        """,
        (publication_id,),
    ).rowcount
    log.info("KPI ledger at publication %s: %d values added, %d replaced or withdrawn", publication_id, added, replaced)
    return added, replaced


def _has_scope(conn: psycopg.Connection, validation_run_id: int, publication_id: int) -> bool:
    """Whether the run recorded the KPI partitions that differ from the publication before `publication_id`.

    Not when another publication came between the gate and this one: the
    partitions it recorded differ from an older one.
    """
    row = conn.execute(
        "select r.kpi_scope_publication_id = (select max(p.publication_id) from audit.publication as p "
        "where p.publication_id < %s) from audit.validation_run as r where r.validation_run_id = %s",
        (publication_id, validation_run_id),
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class AsOf:
    publication_id: int
    published_at: dt.datetime
    rows: list[dict[str, Any]]


def publication_at(conn: psycopg.Connection, at: dt.datetime) -> tuple[int, dt.datetime]:
    """The publication that was live at `at` (the newest made by then)."""
    row = conn.execute(
        "select publication_id, published_at from audit.publication where published_at <= %s "
        "order by publication_id desc limit 1",
        (at,),
    ).fetchone()
    if row is None:
        first = conn.execute("select min(published_at) from audit.publication").fetchone()
        when = f"the first was at {first[0].isoformat()}" if first and first[0] else "nothing has been published"
        raise LedgerError(f"nothing was public at {at.isoformat()}: {when}")
    return int(row[0]), row[1]


def _live_in(alias: str, publication: str) -> str:
    """SQL: ledger row `alias` was live in publication `publication` (ids grow with time)."""
    return f"{alias}.published_in <= {publication} and ({alias}.replaced_in is null or {alias}.replaced_in > {publication})"


def values_as_of(conn: psycopg.Connection, at: dt.datetime, *, year: int | None = None, kpi: str | None = None) -> AsOf:
    """Every KPI value that was public at `at`, as `marts.fct_kpi_value` then held it."""
    publication_id, published_at = publication_at(conn, at)
    _require_ledger(conn, publication_id)
    where, params = [_live_in("l", "%(pub)s")], {"pub": publication_id}
    if year is not None:
        where.append("l.period_start_date >= make_date(%(year)s, 1, 1) and l.period_start_date < make_date(%(year)s + 1, 1, 1)")
        params["year"] = year
    if kpi is not None:
        where.append("l.kpi_code = %(kpi)s")
        params["kpi"] = kpi
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"select {', '.join('l.' + c for c in COLUMNS)}, l.published_in from {LEDGER} as l "
            f"where {' and '.join(where)} "
            # the order of `govkpi kpi` on the live publication
            "order by l.kpi_code, l.period_start_date, "
            "case l.period_grain when 'year' then 0 when 'quarter' then 1 else 2 end, "
            "case l.area_level when 'county' then 0 when 'township' then 1 else 2 end, l.area_code, "
            "l.breakdown_dimension nulls first, l.breakdown_member nulls first",
            params,
        ).fetchall()
    return AsOf(publication_id, published_at, rows)


def _require_ledger(conn: psycopg.Connection, publication_id: int) -> None:
    first = conn.execute(f"select min(published_in) from {LEDGER}").fetchone()
    if first is None or first[0] is None or first[0] > publication_id:
        raise LedgerError(
            f"publication {publication_id} is older than the KPI ledger (its first publication is "
            f"{first[0] if first and first[0] else 'none yet'}): values published before it were not recorded"
        )


def diff(conn: psycopg.Connection, a: int, b: int) -> list[dict[str, Any]]:
    """The KPI values that differ between publications `a` and `b`, with the files that changed between them.

    Each row: the value's key, its value (and numerator, denominator) in
    `a` and in `b` (null where it did not exist), and, of the files the two
    publications were built from, those of the KPI's department that one
    has and the other not: `files_added` (in b, not a) and
    `files_withdrawn` (in a, not b; a corrected file supersedes its
    predecessor, so a restatement names both). By department, not by
    period: a file's rows may be dated outside the month it was delivered
    for. `govkpi lineage` traces a value to its rows.
    """
    for publication in (a, b):
        if conn.execute("select 1 from audit.publication where publication_id = %s", (publication,)).fetchone() is None:
            raise LedgerError(f"there is no publication {publication} (govkpi audit publications lists them)")
        _require_ledger(conn, publication)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            with in_a as (select * from {LEDGER} as l where {_live_in('l', '%(a)s')}),
            in_b as (select * from {LEDGER} as l where {_live_in('l', '%(b)s')}),
            changed as (
                select
                    {', '.join(f'coalesce(a.{c}, b.{c}) as {c}' for c in KEY)},
                    {', '.join(f'a.{c} as {c}_a, b.{c} as {c}_b' for c in MEASURES)}
                from in_a as a
                full join in_b as b on {_same_row('a', 'b')}
                where a.kpi_code is null or b.kpi_code is null or not ({_same_values('a', 'b')})
            ),
            files as (
                select m.file_id, m.file_name, m.department, m.period,
                    m.file_id = any (pa.file_ids) as in_a, m.file_id = any (pb.file_ids) as in_b
                from {schemas.AUDIT}.load_manifest as m
                cross join (select file_ids from {schemas.AUDIT}.publication where publication_id = %(a)s) as pa
                cross join (select file_ids from {schemas.AUDIT}.publication where publication_id = %(b)s) as pb
                where (m.file_id = any (pa.file_ids)) <> (m.file_id = any (pb.file_ids))
            )
            select
                changed.*,
                coalesce(array_agg(distinct files.file_name || ' (file ' || files.file_id || ')')
                    filter (where files.in_b), '{{}}') as files_added,
                coalesce(array_agg(distinct files.file_name || ' (file ' || files.file_id || ')')
                    filter (where files.in_a), '{{}}') as files_withdrawn
            from changed
            left join {schemas.PUBLISHED}.dim_kpi as k on k.kpi_code = changed.kpi_code
            -- by department, not by period: a file's rows may be dated outside the
            -- month it was delivered for (a March roster enrolling in February)
            left join files
                on files.department = k.department
            group by {', '.join(f'changed.{c}' for c in KEY)}, {', '.join(f'changed.{c}_a, changed.{c}_b' for c in MEASURES)}
            order by changed.kpi_code, changed.period_start_date, changed.period_grain, changed.area_level,
                changed.area_code, changed.breakdown_dimension nulls first, changed.breakdown_member nulls first
            """,
            {"a": a, "b": b},
        ).fetchall()
