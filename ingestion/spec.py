"""Declarative description of a departmental extract.

One `ExtractSpec` per extract says how to recognise its files, how its
Chinese headers map to warehouse columns, what type each column has, which
columns form the key and which hold personal data. Readers, validators and
the loader are generic and take a spec; adding a department is adding specs,
never changing the machinery.
"""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass, field


class ColumnType(enum.Enum):
    """Types an extract column can have, with the PostgreSQL type it lands as."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "numeric"
    DATE = "date"
    # A date and time of day as written locally; stored as timestamptz in
    # the spec's time zone.
    DATETIME = "timestamptz"
    BOOLEAN = "boolean"
    # A business's Unified Social Credit Code (统一社会信用代码), validated
    # with stdnum's cn.uscc. Not personal data: kept as delivered (upper case).
    USCC = "uscc"
    # A citizen's 18-character resident identity number. Never stored: it is
    # validated, then replaced by a keyed pseudonym plus birth year and sex.
    RESIDENT_ID = "resident_id"
    # The name of a village of the area register (ingestion/areas.py),
    # stored as delivered; a name the register does not know is rejected.
    VILLAGE = "village"
    # The township a row belongs to (乡镇), delivered as its name in the area
    # register and stored as the register's area_code. A file without the
    # column is one township's file: the township its name names (name or
    # 9-digit division code), or the register's only township.
    TOWNSHIP = "township"


@dataclass(frozen=True)
class Column:
    """One column of an extract.

    `name` is the warehouse column; `aliases` are the header spellings that
    department exports use for it (compared after removing spaces).
    """

    name: str
    aliases: tuple[str, ...]
    type: ColumnType = ColumnType.TEXT
    required: bool = True
    nullable: bool = False
    description: str = ""
    # A date of something that has happened (an enrolment, a certificate): a date after
    # the day the file is loaded is a typing error, and the row is quarantined.
    past_only: bool = False

    @property
    def is_personal(self) -> bool:
        return self.type is ColumnType.RESIDENT_ID

    def warehouse_columns(self) -> list[tuple[str, str]]:
        """The (name, SQL type) pairs this column becomes in the raw table."""
        if self.type is ColumnType.RESIDENT_ID:
            stem = self.name.removesuffix("_id")
            return [
                (self.name, "text"),  # keyed HMAC-SHA256 pseudonym, hex
                (f"{stem}_birth_year", "integer"),
                (f"{stem}_sex", "text"),  # 'male' or 'female'
            ]
        if self.type in (ColumnType.USCC, ColumnType.VILLAGE, ColumnType.TOWNSHIP):
            return [(self.name, "text")]
        return [(self.name, self.type.value)]


# Every extract has it (a test checks): a county's department exports cover
# all its townships in one file with this column, or send one file per
# township without it. Part of every key: IDs are numbered per township.
TOWNSHIP = Column(
    "township_code",
    ("乡镇", "所属乡镇", "乡镇(街道)", "所属乡镇(街道)", "乡镇街道", "乡(镇)"),
    ColumnType.TOWNSHIP,
    required=False,
    description="The row's township: the area_code of the area register's township of that name.",
)


@dataclass(frozen=True)
class ExtractSpec:
    """One kind of file a department delivers, and the raw table it loads into."""

    department: str
    name: str
    description: str
    file_patterns: tuple[str, ...]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Headers we know and deliberately do not load: personal data the KPIs do
    # not need (names, phone numbers) or values derived elsewhere.
    ignored_headers: tuple[str, ...] = ()
    # How many leading rows to search for the header row (exports put titles
    # and notes above it).
    header_search_rows: int = 10
    # County reports group columns under a merged cell above the header
    # proper ("救助情况" over 救助日期 / 救助金额): such a header spans 2 rows.
    header_rows: int = 1
    # Local time zone of DATETIME columns.
    timezone: str = "Asia/Shanghai"
    # A file with more rejected rows than this share is refused as a whole:
    # it is more likely the wrong file or a broken export than a few typos.
    max_rejected_fraction: float = 0.2
    sheet: str | None = None
    # "events": each delivery holds that period's rows (admissions, cases);
    # every current file's rows count. "snapshot": each delivery is the whole
    # register as it stood at the end of its period (wards, the officer
    # roster); only the latest period's file gives rows, while every
    # delivered period still counts as delivered.
    delivery: str = "events"
    totals_markers: tuple[str, ...] = field(default=("合计", "总计", "小计"))

    @property
    def table(self) -> str:
        return self.name

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatch(file_name, pattern) for pattern in self.file_patterns)

    def warehouse_columns(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for col in self.columns:
            out.extend(col.warehouse_columns())
        return out

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"spec {self.name}: duplicate column names")
        if self.delivery not in ("events", "snapshot"):
            raise ValueError(f"spec {self.name}: delivery must be 'events' or 'snapshot', not {self.delivery!r}")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"spec {self.name}: key columns {missing} are not columns")


@dataclass(frozen=True)
class Department:
    """A department that delivers extracts, and the Airflow Asset its loads update."""

    code: str
    name_zh: str
    name_en: str
    extracts: tuple[ExtractSpec, ...]

    def spec_for(self, file_name: str) -> ExtractSpec | None:
        for spec in self.extracts:
            if spec.matches(file_name):
                return spec
        return None
