"""Per-township access to the published marts: PostgreSQL row-level security driven by a role → area table.

A county publishes every township's rows in one `marts` schema; a township's
BI login may read only its own township's. `audit.bi_area_access` maps a
role (a login, or a group it is a member of) to areas of the register: a
township (its rows and its villages'), or the county (everything). Publish
(`apply_policies`, inside its swap transaction) turns row-level security on
for every published table that has township rows:

- a table with `township_key` (facts, wards, officers, classes): the rows of
  the townships the reader may see;
- `fct_kpi_value` and `dim_area` (by `area_code`): the reader's townships,
  their villages, and the county row only for a county reader.

Tables without township rows (dates, the KPI catalogue, reference kinds,
the pseudonymised person dimension) are shared. A reader with no mapping
sees no township rows at all: access is granted, never assumed. The
auditor role reads everything; the owner (publish, the gate, `audit
verify`) is not subject to the policies.

The mapping is read when a query runs, so `govkpi access grant` takes
effect at once, without a new publication. Each policy calls a SECURITY
DEFINER function once per query (a sub-select, not a per-row call); the
function takes the reader's role name from the policy (`current_user`
there), because inside the function `current_user` is its owner.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from govkpi import schemas
from govkpi.errors import GovkpiError
from govkpi.warehouse import AUDITOR_ROLE, BI_ROLE

ACCESS_SCHEMA = "govkpi_access"
MAPPING_TABLE = "bi_area_access"
TOWNSHIP_POLICY = "township_rows"
AUDITOR_POLICY = "auditor_reads_all"
# Published tables whose rows belong to areas by their area_code.
AREA_CODE_TABLES = ("fct_kpi_value", "fct_kpi_status", "fct_kpi_comparison", "dim_area")


class AccessError(GovkpiError):
    """An access grant names a role or area that does not exist."""


@dataclass(frozen=True)
class Grant:
    role_name: str
    area_code: str
    area_level: str | None
    granted_by: str


# The areas a reader may see: those of its granted areas (a township: itself
# and its villages; the county: every area), over the published dim_area.
_FUNCTIONS = """
create or replace function {schema}.visible_area_codes(reader name) returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
    select areas.area_code
    from {published}.dim_area as areas
    where exists (
        select 1
        from audit.bi_area_access as access
        join pg_roles as granted on granted.rolname = access.role_name
        join {published}.dim_area as area on area.area_code = access.area_code
        where pg_has_role(reader, granted.oid, 'MEMBER')
          and (
              areas.area_code = area.area_code
              or (area.area_level = 'township' and areas.township_code = area.area_code)
              or (area.area_level = 'county' and areas.county_code = area.area_code)
          )
    )
$$;
create or replace function {schema}.visible_township_keys(reader name) returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
    -- township_key is md5 of the township's area_code (dbt's surrogate_key)
    select md5(area_code)
    from {published}.dim_area
    where area_level = 'township'
      and area_code in (select {schema}.visible_area_codes(reader))
$$;
revoke all on function {schema}.visible_area_codes(name) from public;
revoke all on function {schema}.visible_township_keys(name) from public;
"""


def install_functions(conn: psycopg.Connection, published: str = schemas.PUBLISHED) -> None:
    """(Re)create the functions the policies call, and let BI call them; takes no lock on any table."""
    access = sql.Identifier(ACCESS_SCHEMA)
    conn.execute(sql.SQL("create schema if not exists {}").format(access))
    # the functions read the published dim_area, which the first publication
    # has not swapped in yet: their bodies are checked when first called
    conn.execute("set local check_function_bodies = off")
    conn.execute(
        sql.SQL(_FUNCTIONS).format(schema=access, published=sql.Identifier(published))
    )
    bi, auditor = sql.Identifier(BI_ROLE), sql.Identifier(AUDITOR_ROLE)
    conn.execute(sql.SQL("grant usage on schema {} to {}, {}").format(access, bi, auditor))
    for function in ("visible_area_codes(name)", "visible_township_keys(name)"):
        conn.execute(sql.SQL("grant execute on function {}.{} to {}").format(access, sql.SQL(function), bi))


def apply_policies(conn: psycopg.Connection, schema: str, tables: list[str], published: str = schemas.PUBLISHED) -> list[str]:
    """Turn row-level security on for the tables of `schema` that hold township rows; return their names.

    Called by publish on the copy about to become `published`, in its
    transaction: the policies go live with the swap.
    """
    install_functions(conn, published)
    access = sql.Identifier(ACCESS_SCHEMA)
    bi, auditor = sql.Identifier(BI_ROLE), sql.Identifier(AUDITOR_ROLE)
    columns = {
        (table, column)
        for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = %s", (schema,)
        ).fetchall()
    }
    secured = []
    for table in tables:
        if (table, "township_key") in columns:
            rows = sql.SQL("township_key in (select {}.visible_township_keys(current_user))").format(access)
        elif table in AREA_CODE_TABLES and (table, "area_code") in columns:
            rows = sql.SQL("area_code in (select {}.visible_area_codes(current_user))").format(access)
        else:
            continue
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("alter table {} enable row level security").format(target))
        conn.execute(
            sql.SQL("create policy {} on {} for select to {} using ({})").format(
                sql.Identifier(TOWNSHIP_POLICY), target, bi, rows
            )
        )
        conn.execute(
            sql.SQL("create policy {} on {} for select to {} using (true)").format(
                sql.Identifier(AUDITOR_POLICY), target, auditor
            )
        )
        secured.append(table)
    return secured


def grant(conn: psycopg.Connection, role: str, area_code: str) -> Grant:
    """Let `role` (and its members) read the published rows of `area_code` (a township, or the county)."""
    if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        raise AccessError(f"role {role!r} does not exist; create the login first (create role ... login in {BI_ROLE})")
    level = _published_level(conn, area_code)
    with conn.transaction():
        conn.execute(
            "insert into audit.bi_area_access (role_name, area_code) values (%s, %s) on conflict do nothing",
            (role, area_code),
        )
    return Grant(role, area_code, level, "")


def revoke(conn: psycopg.Connection, role: str, area_code: str | None = None) -> int:
    """Remove `role`'s grant of `area_code` (or all its grants); return how many were removed."""
    with conn.transaction():
        cur = conn.execute(
            "delete from audit.bi_area_access where role_name = %s and (%s::text is null or area_code = %s)",
            (role, area_code, area_code),
        )
    return cur.rowcount


def grants(conn: psycopg.Connection) -> list[Grant]:
    published = conn.execute("select to_regclass(%s) is not null", (f"{schemas.PUBLISHED}.dim_area",)).fetchone()
    level = (
        sql.SQL("(select area_level from {}.dim_area d where d.area_code = a.area_code)").format(
            sql.Identifier(schemas.PUBLISHED)
        )
        if published and published[0]
        else sql.SQL("null")
    )
    rows = conn.execute(
        sql.SQL("select role_name, area_code, {}, granted_by from audit.bi_area_access a order by role_name, area_code").format(level)
    ).fetchall()
    return [Grant(*row) for row in rows]


def _published_level(conn: psycopg.Connection, area_code: str) -> str:
    exists = conn.execute("select to_regclass(%s) is not null", (f"{schemas.PUBLISHED}.dim_area",)).fetchone()
    if not exists or not exists[0]:
        raise AccessError("nothing is published yet: grant access after the first publication, when the areas are known")
    areas = conn.execute(
        sql.SQL("select area_code, area_level from {}.dim_area where area_level in ('county', 'township') order by area_level, area_code").format(
            sql.Identifier(schemas.PUBLISHED)
        )
    ).fetchall()
    levels = dict(areas)
    if area_code not in levels:
        known = ", ".join(f"{code} ({level})" for code, level in areas)
        raise AccessError(f"area {area_code!r} is not a township or the county of the published register; known: {known}")
    return levels[area_code]
