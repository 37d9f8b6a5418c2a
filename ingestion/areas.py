"""The area register, as the loader checks it: the county, its townships and their villages.

The register is `<landing folder>/register/areas.csv` (area_code, name_zh,
name_en, area_level, parent_area_code, division_code): delivered with the
extracts, because it is the county's own reference data (民政 区划代码). The
loader checks rows against it, and `store` puts the same rows into
`raw.area_register` before each build, which `dim_area` is built from: one
home for the areas (ADR 0021).

The loader uses it to give each row its township and to check its village:
- a row's township is its 乡镇 cell (a township name of the register), or,
  in a file without that column, the township the file name names (its
  name or 9-digit division code), or the register's only township;
- a village is known only within its township: two townships may each have
  a 东岗村.
A name the register does not know sets only that row aside, with its file,
row and column and the names the register knows; the rest loads.

A village that moves to another township (区划调整) gets a new code there:
the register keeps its old row with `valid_to` (the first day it no longer
belongs) and adds the new one with `valid_from` (ADR 0035). Both columns
are optional, ISO dates, empty for "always". A file's rows may name a
village only under a township it belonged to during the file's period (its
month, or its year); a row naming it under its old township in a later
period is set aside saying where the village is now.
"""

from __future__ import annotations

import csv
import hashlib
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from govkpi.errors import SettingsError

REGISTER_DIR = "register"
REGISTER_FILE = "areas.csv"
COLUMNS = ("area_code", "name_zh", "name_en", "area_level", "parent_area_code", "division_code")
# Optional columns: when a row of the register holds (ADR 0035). Empty: always.
VALIDITY = ("valid_from", "valid_to")
STORED = COLUMNS + VALIDITY

Validity = tuple[dt.date | None, dt.date | None]


def period_range(period: str | None) -> Validity:
    """The days [first, after last) of a delivery period `YYYY-MM` or `YYYY`; (None, None) for anything else."""
    if period and re.fullmatch(r"\d{4}-\d{2}", period):
        start = dt.date(int(period[:4]), int(period[5:]), 1)
        return start, (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    if period and re.fullmatch(r"\d{4}", period):
        return dt.date(int(period), 1, 1), dt.date(int(period) + 1, 1, 1)
    return None, None


def _overlap(a: Validity, b: Validity) -> bool:
    """Whether two [from, to) ranges (None: open) share a day."""
    return (a[0] is None or b[1] is None or a[0] < b[1]) and (b[0] is None or a[1] is None or b[0] < a[1])


def _shown(validity: Validity) -> str:
    start, end = validity
    if start and end:
        return f"from {start} until {end}"
    if start:
        return f"from {start}"
    return f"until {end}" if end else "always"


def register_path(landing_dir: Path) -> Path:
    return landing_dir / REGISTER_DIR / REGISTER_FILE


@dataclass(frozen=True)
class AreaRegister:
    # township name -> township area_code
    townships: dict[str, str]
    # township area_code -> its division code (9 digits)
    township_divisions: dict[str, str]
    # township area_code -> names of its villages (at any time)
    villages: dict[str, frozenset[str]]
    source: str
    # (township area_code, village name) -> when the village belongs to it, if not always
    village_validity: dict[tuple[str, str], Validity] = field(default_factory=dict, repr=False)
    # the file's rows (COLUMNS, as text) and its SHA-256, for `store`
    rows: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    sha256: str = ""

    @classmethod
    def from_landing(cls, landing_dir: Path) -> AreaRegister:
        return cls.from_file(register_path(landing_dir))

    @classmethod
    def from_file(cls, path: Path) -> AreaRegister:
        def bad(message: str) -> SettingsError:
            return SettingsError(f"the area register {path}: {message}")

        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            with path.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise bad(f"columns {missing} are missing; its header must be {','.join(COLUMNS)}")
                rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
                for row in rows:
                    for column in VALIDITY:
                        row.setdefault(column, "")
        except FileNotFoundError:
            raise SettingsError(
                f"the area register {path} does not exist: a landing folder holds its county's areas in "
                f"{REGISTER_DIR}/{REGISTER_FILE} (see sample_data/register/areas.csv)"
            ) from None
        by_code: dict[str, dict[str, str]] = {}
        validity: dict[str, Validity] = {}
        for line, row in enumerate(rows, start=2):
            code = row["area_code"]
            if not code or code in by_code:
                raise bad(f"line {line}: area_code {code!r} is empty or repeated")
            if row["area_level"] not in ("county", "township", "village"):
                raise bad(f"line {line}: area_level {row['area_level']!r} is not county, township or village")
            dates = []
            for column in VALIDITY:
                try:
                    dates.append(dt.date.fromisoformat(row[column]) if row[column] else None)
                except ValueError:
                    raise bad(f"line {line}: {column} {row[column]!r} is not a date (YYYY-MM-DD); leave it empty for always") from None
            if dates[0] and dates[1] and dates[0] >= dates[1]:
                raise bad(f"line {line}: valid_from {dates[0]} is not before valid_to {dates[1]}")
            if any(dates) and row["area_level"] != "village":
                raise bad(f"line {line}: only a village's row may have valid_from or valid_to; a {row['area_level']} holds always")
            by_code[code] = row
            validity[code] = (dates[0], dates[1])
        parent_level = {"township": "county", "village": "township"}
        townships: dict[str, str] = {}
        divisions: dict[str, str] = {}
        villages: dict[str, set[str]] = {}
        for code, row in by_code.items():
            level = row["area_level"]
            if level == "county":
                continue
            parent = by_code.get(row["parent_area_code"])
            if parent is None or parent["area_level"] != parent_level[level]:
                raise bad(f"{level} {code} ({row['name_zh']}): its parent_area_code {row['parent_area_code']!r} is not a {parent_level[level]}")
            if level == "township":
                if row["name_zh"] in townships:
                    raise bad(f"two townships are named {row['name_zh']}: a township's name must be unique in the county")
                townships[row["name_zh"]] = code
                divisions[code] = row["division_code"]
        village_validity: dict[tuple[str, str], Validity] = {}
        for code, row in by_code.items():
            if row["area_level"] == "village":
                names = villages.setdefault(row["parent_area_code"], set())
                if row["name_zh"] in names:
                    raise bad(f"township {row['parent_area_code']} has two villages named {row['name_zh']}")
                names.add(row["name_zh"])
                if validity[code] != (None, None):
                    village_validity[(row["parent_area_code"], row["name_zh"])] = validity[code]
        if not townships:
            raise bad("it lists no township (area_level 'township')")
        return cls(
            townships,
            divisions,
            {t: frozenset(v) for t, v in villages.items()},
            str(path),
            village_validity,
            tuple(tuple(row[c] for c in STORED) for row in rows),
            digest,
        )

    def township_name(self, code: str) -> str:
        return next(name for name, c in self.townships.items() if c == code)

    def file_township(self, file_name: str) -> str | None:
        """The township a file's name names (its name or division code), or the only township; None if neither."""
        named = {code for name, code in self.townships.items() if name in file_name}
        named |= {code for code, division in self.township_divisions.items() if division and division in file_name}
        if len(named) == 1:
            return named.pop()
        if not named and len(self.townships) == 1:
            return next(iter(self.townships.values()))
        return None

    def known_townships(self) -> str:
        return "、".join(sorted(self.townships))

    def township_codes(self, names: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Per 乡镇 cell: the township's area_code (None if unknown), and why a name was rejected."""
        mapping = pl.DataFrame({"name": list(self.townships), "code": list(self.townships.values())})
        codes = names.to_frame("name").join(mapping, on="name", how="left", maintain_order="left")["code"]
        reasons = pl.select(
            pl.when(names.is_not_null() & codes.is_null()).then(
                pl.lit("unknown township '")
                + names
                + pl.lit(
                    f"': not in the area register ({self.source}); correct the name to one of "
                    f"{self.known_townships()}, or add the township to the register"
                )
            )
        ).to_series()
        return codes.alias(names.name), reasons.alias(names.name)

    def unknown_village_reasons(self, values: pl.Series, township_codes: pl.Series, period: str | None = None) -> pl.Series:
        """Per value: None for a village of the row's township (or an empty cell, or no township), else why it was rejected.

        With `period` (a file's `YYYY-MM` or `YYYY`), a village counts only
        under a township it belonged to at some day of the period.
        """
        span = period_range(period)
        pairs = [(t, v) for t, names in self.villages.items() for v in sorted(names)]
        current = [(t, v) for t, v in pairs if _overlap(self.village_validity.get((t, v), (None, None)), span)]
        known = pl.DataFrame({"t": [t for t, _ in current], "v": [v for _, v in current], "ok": True},
                             schema={"t": pl.String, "v": pl.String, "ok": pl.Boolean})
        moved = self._moved_reasons(pairs, span, period)
        frame = pl.DataFrame({"t": township_codes, "v": values})
        found = frame.join(known, on=["t", "v"], how="left", maintain_order="left")["ok"]
        lists = pl.DataFrame(
            {
                "t": list(self.villages),
                "names": ["、".join(sorted(n)) for n in self.villages.values()],
                "township": [self.township_name(t) for t in self.villages],
            }
        )
        named = frame.join(lists, on="t", how="left", maintain_order="left")
        reasons = pl.select(
            pl.when(values.is_not_null() & township_codes.is_not_null() & found.is_null())
            .then(
                pl.lit("unknown village '")
                + values
                + pl.lit("': not a village of ")
                + named["township"].fill_null("that township")
                + pl.lit(f" in the area register ({self.source}); correct the name to one of ")
                + named["names"].fill_null("its villages")
                + pl.lit(", or add the village to the register")
            )
        ).to_series().alias(values.name)
        if moved.is_empty():
            return reasons
        why = frame.join(moved, on=["t", "v"], how="left", maintain_order="left")["why"]
        return pl.select(pl.when(pl.lit(reasons).is_not_null() & pl.lit(why).is_not_null()).then(pl.lit(why)).otherwise(pl.lit(reasons))).to_series().alias(values.name)

    def _moved_reasons(self, pairs: list[tuple[str, str]], span: Validity, period: str | None) -> pl.DataFrame:
        """(township, village, why) for each village the register knows in a township, but not during `span`."""
        rows = []
        for t, v in pairs:
            held = self.village_validity.get((t, v), (None, None))
            if _overlap(held, span):
                continue
            elsewhere = [
                f"{self.township_name(other)} ({_shown(self.village_validity.get((other, v), (None, None)))})"
                for other, name in pairs
                if name == v and other != t and _overlap(self.village_validity.get((other, v), (None, None)), span)
            ]
            rows.append((t, v, (
                f"village '{v}' is in {self.township_name(t)} only {_shown(held)} in the area register ({self.source}), "
                f"not in this file's period {period}"
                + (f"; in {period} it is in {'、'.join(elsewhere)}: name that township for this row" if elsewhere else "")
                + ", or correct the register's valid_from/valid_to"
            )))
        return pl.DataFrame(rows, schema={"t": pl.String, "v": pl.String, "why": pl.String}, orient="row")


TABLE = "area_register"


def store(conn: psycopg.Connection, register: AreaRegister) -> bool:
    """Put the register's rows into raw.area_register, replacing what is there, unless it holds this file already.

    One transaction: a build reading the table sees the old register or the
    new one, never a mix. Returns whether the table changed.
    """
    table = sql.Identifier("raw", TABLE)
    with conn.transaction():
        conn.execute("create schema if not exists raw")
        conn.execute(
            sql.SQL("create table if not exists {} ({}, register_sha256 text not null)").format(
                table, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in STORED)
            )
        )
        for column in VALIDITY:  # a warehouse from before ADR 0035
            conn.execute(sql.SQL("alter table {} add column if not exists {} text").format(table, sql.Identifier(column)))
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.area_register'))")
        stored = conn.execute(sql.SQL("select distinct register_sha256 from {}").format(table)).fetchall()
        if stored == [(register.sha256,)]:
            return False
        conn.execute(sql.SQL("delete from {}").format(table))
        with conn.cursor().copy(
            sql.SQL("copy {} ({}, register_sha256) from stdin").format(
                table, sql.SQL(", ").join(sql.Identifier(c) for c in STORED)
            )
        ) as copy:
            for row in register.rows:
                copy.write_row([value or None for value in row] + [register.sha256])
    return True
