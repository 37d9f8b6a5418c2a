"""Turn a chunk of text cells into typed values, rejecting cells that do not parse.

Chunks are polars DataFrames of text (null for an empty cell). Ordinary
columns (numbers, dates, yes/no) are checked with polars expressions, once
per distinct value; resident IDs with stdnum's rules over a numpy array of
their bytes, the rare odd value explained one by one. Each parser gives, per
row, the typed value and the reason the cell was rejected (or null); a
million-row roster is typed in about half a second (ADR 0016).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from ingestion.areas import AreaRegister
from ingestion.pii import Pseudonymiser
from ingestion.readers import REPLACEMENT, ROW_NUMBER
from ingestion.spec import ColumnType, ExtractSpec

_STRIP = "\u3000\t\r\n \ufeff"

# Dates the way clerks write them: 2023-03-06, 2023/3/6, 2023.3.6,
# 2023年3月6日, 20230306, an Excel date exported with a time of day, and
# Excel serial day numbers (days since 1899-12-30). Digits are ASCII digits.
_DATE = (
    r"^(?:(?P<y>[0-9]{4})\s*[-/.年]\s*(?P<m>[0-9]{1,2})\s*[-/.月]\s*(?P<d>[0-9]{1,2})\s*日?"
    r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"|(?P<y2>[0-9]{4})(?P<m2>[0-9]{2})(?P<d2>[0-9]{2})"
    r"|(?P<serial>[0-9]{5})(?:\.0+)?)$"
)
_DATETIME = (
    r"^(?:(?P<y>[0-9]{4})\s*[-/.年]\s*(?P<m>[0-9]{1,2})\s*[-/.月]\s*(?P<d>[0-9]{1,2})\s*日?"
    r"(?:[ T]+(?P<H>[0-9]{1,2})\s*[:时]\s*(?P<M>[0-9]{1,2})(?:\s*[:分]\s*(?P<S>[0-9]{1,2})(?:\.[0-9]+)?)?\s*[分秒]?)?"
    r"|(?P<serial>[0-9]{5}(?:\.[0-9]+)?))$"
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_INTEGER = r"^[+-]?[0-9]+(?:\.0+)?$"
_DECIMAL = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
_TRUE = ["是", "y", "yes", "true", "t", "1", "√", "✓", "已结业", "结业"]
_FALSE = ["否", "n", "no", "false", "f", "0", "×", "✗", "未结业"]
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")
_RIC_SHAPE = re.compile(r"^\d{17}[\dX]$")

_NO_REASON = pl.lit(None, dtype=pl.String)


@dataclass
class ParsedChunk:
    """A chunk after typing: the rows to load and the rejected cells.

    The pseudonyms of its IDs may still be being computed (in a helper
    process): `valid` waits for them.
    """

    typed: pl.DataFrame  # every row: warehouse columns + _row_number, pseudonyms still missing
    keep: pl.Series | None  # rows without a rejected cell; None: all
    # One dict per rejected cell: row_number, column (header as written), reason, raw_record.
    rejects: list[dict]
    pending: dict[str, _Pseudonyms] = field(default_factory=dict)  # warehouse column -> its pseudonyms

    @functools.cached_property
    def valid(self) -> pl.DataFrame:
        """The rows to load, with their pseudonyms."""
        typed = self.typed.with_columns(p.column().alias(name) for name, p in self.pending.items()) if self.pending else self.typed
        return typed if self.keep is None else typed.filter(self.keep)


# --------------------------------------------------------------------------
# Column checks: a frame of distinct cleaned texts ("text") in, the same
# frame with the typed "value" and the "reason" for rejecting it out. Each
# check works in a few simple steps: one large polars expression with the
# same logic costs ten times more to plan than to run.
# --------------------------------------------------------------------------

Check = Callable[[pl.DataFrame], pl.DataFrame]
_TEXT, _VALUE, _REASON = pl.col("text"), pl.col("value"), pl.col("reason")


# Invisible characters an export or a copy from a web page leaves in a cell: zero-width
# spaces and joiners, the word joiner, a stray byte-order mark. Never meaningful here.
_INVISIBLE = r"[\u200b\u200c\u200d\u2060\ufeff]"
# Full-width digits and letters (a Chinese input method's) as their ASCII forms.
_FULL_WIDTH = "０１２３４５６７８９ＸｘＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＹ"
_HALF_WIDTH = "0123456789XxABCDEFGHJKLMNPQRTUWY"
# Longer than any real cell of these extracts: a broken export (a whole file in one cell).
MAX_CELL_CHARS = 1000
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def clean_text(text: pl.Expr) -> pl.Expr:
    """Strip white space (ASCII, full-width and the rest of Unicode's) and invisible characters; empty becomes null."""
    return text.str.replace_all(_INVISIBLE, "").str.strip_chars().replace("", None)


def ascii_forms(text: pl.Expr) -> pl.Expr:
    """Full-width digits and code letters as ASCII (an ID or code typed with a Chinese input method)."""
    return text.str.replace_many(list(_FULL_WIDTH), list(_HALF_WIDTH))


def cell_problems(text: pl.Expr) -> pl.Expr:
    """The reason a cell cannot be stored whatever its type (control characters, absurd length), else null."""
    return (
        pl.when(text.str.contains(_CONTROL).fill_null(False))
        .then(pl.lit("holds a control character (such as NUL) that is not text; correct the cell in the department system"))
        .when((text.str.len_chars() > MAX_CELL_CHARS).fill_null(False))
        .then(pl.lit(f"longer than {MAX_CELL_CHARS} characters, which no cell of this extract is; check the export"))
    )


def _clean_frame(chunk: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """`clean_text` of each column; a byte-order mark stuck to a cell (rare) is stripped too."""
    strays = chunk.select(pl.col(n).str.contains("\ufeff", literal=True).any() for n in names).row(0)
    return chunk.select(
        (clean_text(pl.col(n).str.strip_chars(_STRIP)) if stray else clean_text(pl.col(n))).alias(n)
        for n, stray in zip(names, strays)
    )


def integer_check(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(ascii_forms(_TEXT).str.replace_all(",", "", literal=True).alias("bare"))
    frame = frame.with_columns(
        pl.when(pl.col("bare").str.contains(_INTEGER)).then(pl.col("bare").str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)).alias("value")
    )
    # A whole number too large for PostgreSQL's bigint is no more loadable than "4x".
    return frame.select(_TEXT, _VALUE, pl.when(_TEXT.is_not_null() & _VALUE.is_null()).then(pl.lit("not a whole number")).alias("reason"))


def decimal_check(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(ascii_forms(_TEXT).str.replace_all(r"[,，¥￥元\s]", "").str.replace("．", ".", literal=True).alias("bare"))
    frame = frame.with_columns(pl.col("bare").str.contains(_DECIMAL).alias("shaped"))
    return frame.select(
        _TEXT,
        pl.when(pl.col("shaped")).then(pl.col("bare")).alias("value"),
        pl.when(_TEXT.is_not_null() & ~pl.col("shaped")).then(pl.lit("not a number")).alias("reason"),
    )


def date_check(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(_TEXT.str.extract_groups(_DATE).alias("parts")).unnest("parts")
    frame = frame.with_columns(
        pl.coalesce("y", "y2").alias("y"), pl.coalesce("m", "m2").alias("m"), pl.coalesce("d", "d2").alias("d"),
        pl.col("serial").cast(pl.Int64),
    )
    frame = frame.with_columns(
        pl.when(pl.col("y").is_not_null())
        .then(pl.concat_str("y", pl.col("m").str.zfill(2), pl.col("d").str.zfill(2), separator="-").str.to_date("%Y-%m-%d", strict=False))
        .otherwise(pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.col("serial")))
        .alias("date")
    )
    year = pl.col("date").dt.year()
    frame = frame.with_columns(
        pl.when(_TEXT.is_null()).then(_NO_REASON)
        .when(pl.col("y").is_null() & pl.col("serial").is_null())
        .then(pl.lit("not a date (write it as 2023-03-06, 2023/3/6 or 2023年3月6日)"))
        .when(pl.col("date").is_null()).then(pl.lit("not a real calendar date"))
        .when((year < 1900) | (year > 2100)).then(pl.lit("date outside 1900-2100"))
        .alias("reason")
    )
    return frame.select(_TEXT, pl.when(_REASON.is_null()).then(pl.col("date").dt.to_string("%Y-%m-%d")).alias("value"), _REASON)


def datetime_check(frame: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Local date-times (2023-06-01 09:30, 2023/6/1 9:30:15, 2023年6月1日 9时30分, an
    Excel serial with a fraction) as ISO text with the zone's offset; a bare date is midnight."""
    frame = frame.with_columns(_TEXT.str.extract_groups(_DATETIME).alias("parts")).unnest("parts")
    frame = frame.with_columns(
        pl.concat_str(
            pl.concat_str("y", pl.col("m").str.zfill(2), pl.col("d").str.zfill(2), separator="-"),
            pl.concat_str(*(pl.col(part).fill_null("0").str.zfill(2) for part in ("H", "M", "S")), separator=":"),
            separator=" ",
        ).alias("stamp"),
        pl.col("serial").cast(pl.Float64),
    )
    frame = frame.with_columns(
        pl.when(pl.col("y").is_not_null())
        .then(pl.col("stamp").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"))
        .otherwise(pl.lit(dt.datetime(1899, 12, 30)) + pl.duration(seconds=(pl.col("serial") * 86400).round(0).cast(pl.Int64)))
        .dt.replace_time_zone(timezone, ambiguous="null", non_existent="null")
        .alias("zoned")
    )
    frame = frame.with_columns(
        pl.when(_TEXT.is_null()).then(_NO_REASON)
        .when(pl.col("y").is_null() & pl.col("serial").is_null())
        .then(pl.lit("not a date and time (write it as 2023-06-01 09:30)"))
        .when(pl.col("zoned").is_null()).then(pl.lit("not a real date and time"))
        .alias("reason")
    )
    return frame.select(_TEXT, pl.when(_REASON.is_null()).then(pl.col("zoned").dt.to_string("%Y-%m-%d %H:%M:%S%z")).alias("value"), _REASON)


def boolean_check(frame: pl.DataFrame) -> pl.DataFrame:
    lowered = _TEXT.str.to_lowercase()
    frame = frame.with_columns(pl.when(lowered.is_in(_TRUE)).then(pl.lit("t")).when(lowered.is_in(_FALSE)).then(pl.lit("f")).alias("value"))
    return frame.with_columns(pl.when(_TEXT.is_not_null() & _VALUE.is_null()).then(pl.lit("not yes/no (use 是 or 否)")).alias("reason"))


_CHECKS: dict[ColumnType, Check] = {
    ColumnType.INTEGER: integer_check,
    ColumnType.DECIMAL: decimal_check,
    ColumnType.DATE: date_check,
    ColumnType.BOOLEAN: boolean_check,
}


def _apply(check: Callable[..., pl.DataFrame], values: pl.Series, *args: object) -> tuple[pl.Series, pl.Series]:
    """Run one check over a Series of cleaned text, once per distinct value: (values, reasons).

    Extract columns repeat heavily (a year has 365 dates, a township two
    dozen villages): checking each distinct value once and joining the
    results back is many times faster on large files, with the same results.
    """
    text = values.rename("text").cast(pl.String).to_frame()
    checked = check(text.unique(), *args).select(_TEXT, _VALUE, _REASON.cast(pl.String))
    out = text.join(checked, on="text", how="left", nulls_equal=True, maintain_order="left")
    return out["value"].rename(values.name), out["reason"].rename(values.name)


def parse_integer(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    return _apply(integer_check, values)


def parse_decimal(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    return _apply(decimal_check, values)


def parse_date(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    return _apply(date_check, values)


def parse_datetime(values: pl.Series, timezone: str) -> tuple[pl.Series, pl.Series]:
    return _apply(datetime_check, values, timezone)


def parse_boolean(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    return _apply(boolean_check, values)


# --------------------------------------------------------------------------
# Codes checked with stdnum, in Python: credit codes and resident IDs
# --------------------------------------------------------------------------


def _uscc_reason(code: str | None) -> str | None:
    if code is None:
        return None
    try:
        uscc.validate(code)
    except InvalidLength:
        return f"a Unified Social Credit Code has 18 characters, this has {len(code)}"
    except InvalidChecksum:
        return "Unified Social Credit Code check character is wrong (a character was probably mistyped)"
    except ValidationError:
        return "not a valid Unified Social Credit Code (18 characters of digits and capital letters, no I, O, S, V, Z)"
    return None


def parse_uscc(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Unified Social Credit Codes, validated with stdnum's cn.uscc, once per distinct code."""
    compact = values.str.replace_all(r"[\s\-]", "").str.to_uppercase()
    distinct = compact.drop_nulls().unique().to_list()
    verdicts = pl.DataFrame({"code": distinct, "reason": [_uscc_reason(c) for c in distinct]}, schema={"code": pl.String, "reason": pl.String})
    reason = compact.to_frame("code").join(verdicts, on="code", how="left", maintain_order="left")["reason"]
    return pl.select(pl.when(reason.is_null()).then(compact)).to_series().alias(values.name), reason


@functools.lru_cache(maxsize=65536)
def _ric_place_reason(region: str, year: str) -> str | None:
    """stdnum's birth-place rule: the region code must name a county that existed in the birth year.

    It depends only on the region code and the year, so the costly look-up
    in stdnum's database (about 300 µs) runs once per pair, not per person.
    """
    try:
        ric.get_birth_place(f"{region}{year}0101000")
    except ValidationError:
        return "region code in the ID is not a known county for that birth year"
    return None


_BAD_DATE = "birth date in the ID is not a real date"
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_BAD_CHECK = "check digit is wrong (a digit was probably mistyped); correct the ID in the department system"


def ric_reason(number: str) -> str | None:
    """Why one resident ID (compacted, upper-case) is invalid, or None.

    The rules of `stdnum.cn.ric.validate` (length, digits, check digit, birth
    date, birth place), each failure with a message a clerk can act on.
    """
    if _SCIENTIFIC.match(number):
        return (
            "looks like Excel turned the ID into a number in scientific notation and lost its last digits; "
            "format the column as text in the department system and re-export"
        )
    if len(number) == 15 and number.isdigit():
        return "15-digit first-generation ID; ask the department for the person's 18-digit ID"
    if len(number) != 18:
        return f"an ID has 18 characters, this has {len(number)}"
    if not _RIC_SHAPE.match(number):
        return "an ID is 17 digits and a final digit or X"
    if number[-1] != ric.calc_check_digit(number):
        return _BAD_CHECK
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return _BAD_DATE
    return _ric_place_reason(number[:6], number[6:10])


@dataclass
class _Pseudonyms:
    """Pseudonyms on their way: for the rows at `positions` of a chunk of `size` rows."""

    size: int
    positions: np.ndarray
    hashed: Future[list[str]]

    def column(self) -> pl.Series:
        hashed = pl.Series(self.hashed.result(), dtype=pl.String)
        if len(self.positions) == self.size:
            return hashed
        return pl.repeat(None, self.size, dtype=pl.String, eager=True).scatter(self.positions, hashed)


def parse_resident_id(values: pl.Series, pseudonymiser: Pseudonymiser) -> tuple[pl.DataFrame, pl.Series]:
    """Validate resident IDs and replace them by pseudonym, birth year and sex (see `_resident_ids`)."""
    frame, reasons, pseudonyms = _resident_ids(values, pseudonymiser)
    return frame.with_columns(pseudonyms.column().alias("pseudonym")), reasons


def _resident_ids(values: pl.Series, pseudonymiser: Pseudonymiser) -> tuple[pl.DataFrame, pl.Series, _Pseudonyms]:
    """Validate resident IDs and replace them by pseudonym, birth year and sex.

    The rules are stdnum's (see `ric_reason`), applied in bulk because at a
    million rows every microsecond per value is a second: IDs of 18 ASCII
    characters are checked as one uint8 array (stdnum's check-digit formula
    over the array), and stdnum's birth-date and birth-place rules run once
    per distinct date and (region, year). Any other value goes through
    `ric_reason` for its specific message. The returned frame has no column
    holding the ID itself; its pseudonyms follow (`pseudonymiser.submit`),
    so hashing can overlap other work.
    """
    size = len(values)
    upper = pl.select(ascii_forms(pl.lit(values))).to_series().str.to_uppercase()
    plain = (upper.str.len_bytes() == 18).fill_null(False).to_numpy()
    if not plain.all():
        # Spaces or hyphens inside an ID are rare; compacting only the other values keeps the usual case fast.
        upper = pl.select(pl.when(pl.lit(plain)).then(upper).otherwise(upper.str.replace_all(r"[\s\-]", ""))).to_series()
        plain = (upper.str.len_bytes() == 18).fill_null(False).to_numpy()
    reasons = np.full(size, None, dtype=object)
    ok = np.zeros(size, dtype=bool)
    birth_years = np.zeros(size, dtype=np.int32)
    sex_digit = np.zeros(size, dtype=np.uint8)
    positions = np.flatnonzero(plain)
    shaped = np.zeros(0, dtype=bool)
    if len(positions):
        # 18 bytes each, so one (n, 18) array; a multi-byte character fails the shape test.
        usual = upper if len(positions) == size else upper.gather(positions)
        block = np.frombuffer(usual.str.join("").item().encode("utf-8"), dtype=np.uint8).reshape(-1, 18)
        digits = block - np.uint8(48)  # a byte that is not a digit wraps around to more than 9
        last = block[:, 17]
        shaped = (digits[:, :17] <= 9).all(axis=1) & ((digits[:, 17] <= 9) | (last == ord("X")))
        # stdnum's calc_check_digit is (1 - 2 * int(first 17 digits, base 13)) mod 11,
        # 10 written X. As 13 = 2 (mod 11), int(., 13) mod 11 is the sum of
        # d_i * 2^(16-i) mod 11: the same check, over the whole array at once
        # (tests/unit/test_parsers.py compares the two on random IDs).
        weights_mod_11 = (2 ** np.arange(16, -1, -1, dtype=np.int32) % 11).astype(np.int32)
        checksum = (1 - 2 * (digits[:, :17].astype(np.int32) @ weights_mod_11 % 11)) % 11
        expected = np.where(checksum == 10, ord("X"), ord("0") + checksum)
        checked = shaped & (last == expected)
        reasons[positions[shaped & ~checked]] = _BAD_CHECK
        # stdnum's birth-date rule is that digits 7-14 make a datetime.date:
        # a year from 1, a month 1-12, a day that month has.
        ymd = digits[:, 6:14].astype(np.int32)
        years = ymd[:, 0] * 1000 + ymd[:, 1] * 100 + ymd[:, 2] * 10 + ymd[:, 3]
        months = ymd[:, 4] * 10 + ymd[:, 5]
        days = ymd[:, 6] * 10 + ymd[:, 7]
        leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
        month_days = _MONTH_DAYS[np.clip(months, 0, 12)] + ((months == 2) & leap)
        real_date = (years >= 1) & (months >= 1) & (months <= 12) & (days >= 1) & (days <= month_days)
        bad_date = checked & ~real_date
        reasons[positions[bad_date]] = _BAD_DATE
        candidates = checked & real_date
        regions = digits[:, :6].astype(np.int64) @ np.array([100_000, 10_000, 1_000, 100, 10, 1], dtype=np.int64)
        region_years = regions * 10_000 + years
        # stdnum's birth-place rule, once per distinct (region, year) of the file.
        pairs = pl.Series(region_years[candidates]).unique().to_list()
        bad_pairs = [pair for pair in pairs if _ric_place_reason(f"{pair // 10_000:06d}", f"{pair % 10_000:04d}") is not None]
        if bad_pairs:
            bad_place = candidates & np.isin(region_years, bad_pairs)
            reasons[positions[bad_place]] = "region code in the ID is not a known county for that birth year"
            candidates &= ~bad_place
        ok[positions[candidates]] = True
        birth_years[positions] = years
        sex_digit[positions] = digits[:, 16]
    odd = np.ones(size, dtype=bool)
    odd[positions[shaped]] = False
    odd &= ~upper.is_null().to_numpy()
    for i in np.flatnonzero(odd):
        reasons[i] = ric_reason(upper[int(i)])
    good = np.flatnonzero(ok)
    pseudonyms = _Pseudonyms(size, good, pseudonymiser.submit((upper if len(good) == size else upper.gather(good)).to_list()))
    valid = pl.Series(ok)
    frame = pl.select(
        pl.repeat(None, size, dtype=pl.String).alias("pseudonym"),
        pl.when(valid).then(pl.Series(birth_years)).alias("birth_year"),
        pl.when(valid).then(pl.when(pl.Series(sex_digit % 2 == 1)).then(pl.lit("male")).otherwise(pl.lit("female"))).alias("sex"),
    )
    if any(r is not None for r in reasons[~ok]):
        reason_series = pl.Series(reasons.tolist(), dtype=pl.String)
    else:
        reason_series = pl.repeat(None, size, dtype=pl.String, eager=True)
    return frame, reason_series, pseudonyms


def mask_resident_id(value: object) -> object:
    """What quarantine keeps of an ID: its shape, never the number."""
    if not isinstance(value, str) or not value:
        return value
    return f"<resident ID masked, {len(value.strip())} characters>"


# --------------------------------------------------------------------------
# A whole chunk
# --------------------------------------------------------------------------

_UNDECODABLE = "bytes that are not valid in the file's encoding (UTF-8 or GB18030)"
_EMPTY = "required value is empty"
_FUTURE = "a date after today, for something that has already happened; correct the date in the department system"


def parse_chunk(
    spec: ExtractSpec,
    chunk: pl.DataFrame,
    headers: dict[str, str],
    pseudonymiser: Pseudonymiser,
    *,
    areas: AreaRegister | None = None,
    file_township: str | None = None,
    period: str | None = None,
    may_hold_undecodable: bool = True,
) -> ParsedChunk:
    """Type every column of a chunk; rows with any rejected cell go to quarantine.

    `areas`: the area register the township and village columns are
    checked against (the loader always passes it; without it both are plain
    text). `file_township`: the township the file belongs to by its name (or
    the register's only one): a file without a 乡镇 column gives it to every
    row, a file with one may hold only that township's rows. `period`: the
    file's delivery period; a village counts only under a township it
    belonged to during it (the register's valid_from/valid_to, ADR 0035).

    `may_hold_undecodable` is False when the reader decoded the chunk's bytes
    cleanly, which spares searching every cell for replacement characters.
    """
    text = _clean_frame(chunk, [c.name for c in spec.columns])
    values: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    pending: dict[str, _Pseudonyms] = {}
    townships, township_reasons = _townships(spec, text, headers, areas, file_township)
    for col in spec.columns:
        cell = pl.col(col.name)
        if col.type is ColumnType.RESIDENT_ID:
            frame, reason_series, pseudonyms = _resident_ids(text[col.name], pseudonymiser)
            names = [name for name, _ in col.warehouse_columns()]
            values += [pl.lit(frame[field]).alias(name) for field, name in zip(frame.columns, names)]
            pending[names[0]] = pseudonyms
            reason = pl.lit(reason_series)
        elif col.type is ColumnType.USCC:
            value_series, reason_series = parse_uscc(text[col.name])
            values.append(pl.lit(value_series).alias(col.name))
            reason = pl.lit(reason_series)
        elif col.type is ColumnType.TOWNSHIP:
            values.append(pl.lit(townships).alias(col.name))
            reason = pl.lit(township_reasons)
        elif col.type is ColumnType.VILLAGE:
            values.append(cell)
            reason = pl.lit(areas.unknown_village_reasons(text[col.name], townships, period)) if areas is not None else _NO_REASON
        elif col.type is ColumnType.TEXT:
            values.append(cell)
            reason = _NO_REASON
        else:
            check = _CHECKS.get(col.type)
            value_series, reason_series = _apply(check, text[col.name]) if check else _apply(datetime_check, text[col.name], spec.timezone)
            values.append(pl.lit(value_series).alias(col.name))
            reason = pl.lit(reason_series)
            if col.past_only:
                future = (value_series > dt.date.today().isoformat()).fill_null(False)
                reason = pl.when(reason.is_null() & pl.lit(future)).then(pl.lit(_FUTURE)).otherwise(reason)
        if not col.nullable and col.name in headers:
            reason = pl.when(reason.is_null() & cell.is_null()).then(pl.lit(_EMPTY)).otherwise(reason)
        if col.type is ColumnType.TEXT and col.name in headers:
            # text is stored as delivered; typed cells with such characters fail their type's check
            reason = pl.when(reason.is_null()).then(cell_problems(pl.lit(chunk.get_column(col.name)))).otherwise(reason)
        if may_hold_undecodable:
            raw = chunk.get_column(col.name)
            reason = pl.when(pl.lit(raw.str.contains(REPLACEMENT, literal=True).fill_null(False))).then(pl.lit(_UNDECODABLE)).otherwise(reason)
        reasons.append(reason.cast(pl.String).alias(col.name))
    typed = text.select(*values, pl.lit(chunk[ROW_NUMBER]).alias(ROW_NUMBER))
    reason_frame = text.select(reasons)
    rejected = reason_frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
    if not rejected.any():
        return ParsedChunk(typed, None, [], pending)
    rejects = _rejects(spec, chunk.filter(rejected), reason_frame.filter(rejected), headers)
    return ParsedChunk(typed, ~rejected, rejects, pending)


def _townships(
    spec: ExtractSpec, text: pl.DataFrame, headers: dict[str, str], areas: AreaRegister | None, file_township: str | None
) -> tuple[pl.Series, pl.Series]:
    """Each row's township code and, per row, why its 乡镇 cell was rejected (None if it was not)."""
    name = next((c.name for c in spec.columns if c.type is ColumnType.TOWNSHIP), None)
    size = text.height
    no_reasons = pl.repeat(None, size, dtype=pl.String, eager=True)
    if name is None:
        return pl.repeat(file_township, size, dtype=pl.String, eager=True), no_reasons
    if name not in headers:
        return pl.repeat(file_township, size, dtype=pl.String, eager=True).alias(name), no_reasons.alias(name)
    if areas is None:
        return text[name], no_reasons.alias(name)
    codes, reasons = areas.township_codes(text[name])
    if file_township is not None:
        other = codes.is_not_null() & (codes != file_township)
        reasons = pl.select(
            pl.when(pl.lit(other))
            .then(
                pl.lit("township '")
                + text[name]
                + pl.lit(
                    f"' in a file whose name makes it {areas.township_name(file_township)}'s: send each township's "
                    "rows in its own file, or the county's rows in a file whose name names no township"
                )
            )
            .otherwise(pl.lit(reasons))
        ).to_series().alias(name)
    return codes, reasons


def _storable(text: str) -> str:
    """A cell as the quarantine can keep it: NUL, which PostgreSQL text cannot hold, shown as ␀."""
    return text.replace("\x00", "\u2400")


def _rejects(spec: ExtractSpec, chunk: pl.DataFrame, reasons: pl.DataFrame, headers: dict[str, str]) -> list[dict]:
    records = []
    personal = {c.name for c in spec.columns if c.is_personal}
    for cells, row_reasons in zip(chunk.iter_rows(named=True), reasons.iter_rows(named=True)):
        record = {
            headers.get(col.name, col.name): mask_resident_id(cells[col.name] or "") if col.name in personal else _storable(cells[col.name] or "")
            for col in spec.columns
        }
        for name, reason in row_reasons.items():
            if reason is None:
                continue
            records.append(
                {
                    "row_number": int(cells[ROW_NUMBER]),
                    "column": headers.get(name, spec.column(name).aliases[0]),
                    "reason": reason,
                    "raw_record": record,
                }
            )
    return records


__all__ = ["ParsedChunk", "parse_chunk", "ric_reason", "mask_resident_id"]
