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
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from govkpi.errors import SettingsError

REGISTER_DIR = "register"
REGISTER_FILE = "areas.csv"
COLUMNS = ("area_code", "name_zh", "name_en", "area_level", "parent_area_code", "division_code")


def register_path(landing_dir: Path) -> Path:
    return landing_dir / REGISTER_DIR / REGISTER_FILE


@dataclass(frozen=True)
class AreaRegister:
    # township name -> township area_code
    townships: dict[str, str]
    # township area_code -> its division code (9 digits)
    township_divisions: dict[str, str]
    # township area_code -> names of its villages
    villages: dict[str, frozenset[str]]
    source: str
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
        except FileNotFoundError:
            raise SettingsError(
                f"the area register {path} does not exist: a landing folder holds its county's areas in "
                f"{REGISTER_DIR}/{REGISTER_FILE} (see sample_data/register/areas.csv)"
            ) from None
        by_code: dict[str, dict[str, str]] = {}
        for line, row in enumerate(rows, start=2):
            code = row["area_code"]
            if not code or code in by_code:
                raise bad(f"line {line}: area_code {code!r} is empty or repeated")
            if row["area_level"] not in ("county", "township", "village"):
                raise bad(f"line {line}: area_level {row['area_level']!r} is not county, township or village")
            by_code[code] = row
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
        for code, row in by_code.items():
            if row["area_level"] == "village":
                names = villages.setdefault(row["parent_area_code"], set())
                if row["name_zh"] in names:
                    raise bad(f"township {row['parent_area_code']} has two villages named {row['name_zh']}")
                names.add(row["name_zh"])
        if not townships:
            raise bad("it lists no township (area_level 'township')")
        return cls(
            townships,
            divisions,
            {t: frozenset(v) for t, v in villages.items()},
            str(path),
            tuple(tuple(row[c] for c in COLUMNS) for row in rows),
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

    def unknown_village_reasons(self, values: pl.Series, township_codes: pl.Series) -> pl.Series:
        """Per value: None for a village of the row's township (or an empty cell, or no township), else why it was rejected."""
        known = pl.DataFrame(
            {
                "t": [t for t, names in self.villages.items() for _ in names],
                "v": [v for names in self.villages.values() for v in sorted(names)],
                "ok": True,
            }
        )
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
        return pl.select(
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
                table, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in COLUMNS)
            )
        )
        conn.execute("select pg_advisory_xact_lock(hashtext('govkpi.area_register'))")
        stored = conn.execute(sql.SQL("select distinct register_sha256 from {}").format(table)).fetchall()
        if stored == [(register.sha256,)]:
            return False
        conn.execute(sql.SQL("delete from {}").format(table))
        with conn.cursor().copy(
            sql.SQL("copy {} ({}, register_sha256) from stdin").format(
                table, sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
            )
        ) as copy:
            for row in register.rows:
                copy.write_row([value or None for value in row] + [register.sha256])
    return True
