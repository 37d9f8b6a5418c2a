"""Turn a chunk of text cells into typed values, rejecting cells that do not parse.

Everything here is vectorised over a pandas chunk: a million-row extract is
parsed in seconds, not minutes. Each parser returns the typed values and,
per row, the reason the cell was rejected (or None).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from ingestion.pii import Pseudonymiser
from ingestion.readers import REPLACEMENT, ROW_NUMBER
from ingestion.spec import Column, ColumnType, ExtractSpec

_STRIP = "\u3000\t\r\n \ufeff"

# Dates the way clerks write them: 2023-03-06, 2023/3/6, 2023.3.6,
# 2023年3月6日, 20230306, an Excel date exported with a time of day, and
# Excel serial day numbers (days since 1899-12-30).
_DATE = re.compile(
    r"^(?:(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"|(?P<y2>\d{4})(?P<m2>\d{2})(?P<d2>\d{2})"
    r"|(?P<serial>\d{5})(?:\.0+)?)$"
)
_DATETIME = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]+(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{1,2})(?:\s*[:分]\s*(?P<S>\d{1,2})(?:\.\d+)?)?\s*[分秒]?)?$"
    r"|^(?P<serial>\d{5}(?:\.\d+)?)$"
)
_EXCEL_EPOCH = np.datetime64("1899-12-30")
_INTEGER = re.compile(r"^[+-]?\d+(?:\.0+)?$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_TRUE = {"是", "y", "yes", "true", "t", "1", "√", "✓", "已结业", "结业"}
_FALSE = {"否", "n", "no", "false", "f", "0", "×", "✗", "未结业"}
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")
_RIC_SHAPE = re.compile(r"^\d{17}[\dX]$")


@dataclass
class ParsedChunk:
    """A chunk after typing: the rows to load and the rejected cells."""

    valid: pd.DataFrame  # warehouse columns + _row_number
    rejects: pd.DataFrame  # _row_number, column (spec name), header, reason, raw_record


def clean_text(values: pd.Series) -> pd.Series:
    """Strip ASCII and full-width spaces; empty becomes missing."""
    out = values.astype(object).str.strip(_STRIP)
    return out.where(out != "", None)


def per_distinct(parser, values: pd.Series, *args) -> tuple[pd.Series, pd.Series]:
    """Apply a (values, reasons) parser to the distinct values only, then spread the results.

    Extract columns repeat heavily (a year has 365 dates, a township two
    dozen villages), so parsing each distinct value once and indexing the
    results back is many times faster on large files; the results are the
    same as parsing every cell.
    """
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    if len(uniques) * 2 > len(values):  # mostly distinct: no gain
        return parser(values, *args)
    parsed, reason = parser(pd.Series(uniques, dtype=object), *args)
    parsed_arr = np.append(parsed.astype(object).to_numpy(dtype=object), None)
    reason_arr = np.append(reason.astype(object).to_numpy(dtype=object), None)
    return (
        pd.Series(parsed_arr[codes], index=values.index, dtype=object),
        pd.Series(reason_arr[codes], index=values.index, dtype=object),
    )


def _clean_with_no_reason(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return clean_text(values), pd.Series(None, index=values.index, dtype=object)


def parse_integer(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = values.str.replace(",", "", regex=False)
    ok = text.str.match(_INTEGER).fillna(True) | text.isna()
    numbers = pd.to_numeric(text.where(ok), errors="coerce").astype("Int64")
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[~ok] = "not a whole number"
    return numbers, reason


def parse_decimal(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = values.str.replace(r"[,，¥￥元\s]", "", regex=True)
    ok = text.str.match(_DECIMAL).fillna(True) | text.isna()
    numbers = text.where(ok)
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[~ok] = "not a number"
    return numbers, reason


def parse_date(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = values.str.extract(_DATE)
    year = parts["y"].fillna(parts["y2"])
    month = parts["m"].fillna(parts["m2"])
    day = parts["d"].fillna(parts["d2"])
    has_ymd = year.notna()
    ymd = pd.to_datetime(
        year.where(has_ymd, "1970") + "-" + month.where(has_ymd, "1").str.zfill(2) + "-" + day.where(has_ymd, "1").str.zfill(2),
        format="%Y-%m-%d",
        errors="coerce",
    )
    serial = pd.to_numeric(parts["serial"], errors="coerce")
    from_serial = pd.Series(
        _EXCEL_EPOCH + serial.fillna(0).astype("int64").to_numpy().astype("timedelta64[D]"),
        index=values.index,
    )
    dates = ymd.where(has_ymd, from_serial.where(serial.notna()))
    reason = pd.Series(None, index=values.index, dtype=object)
    unparsed = values.notna() & ~(has_ymd | serial.notna())
    reason[unparsed] = "not a date (write it as 2023-03-06, 2023/3/6 or 2023年3月6日)"
    impossible = values.notna() & (has_ymd | serial.notna()) & dates.isna()
    reason[impossible] = "not a real calendar date"
    out_of_range = dates.notna() & ((dates.dt.year < 1900) | (dates.dt.year > 2100))
    reason[out_of_range] = "date outside 1900-2100"
    return dates.dt.strftime("%Y-%m-%d").where(reason.isna() & dates.notna(), None), reason


def parse_datetime(values: pd.Series, timezone: str) -> tuple[pd.Series, pd.Series]:
    """Local date-times (2023-06-01 09:30, 2023/6/1 9:30:15, 2023年6月1日 9时30分, an
    Excel serial with a fraction) as ISO text with the zone's offset; a bare date is midnight."""
    parts = values.str.extract(_DATETIME)
    has_ymd = parts["y"].notna()
    text = (
        parts["y"].where(has_ymd, "1970") + "-" + parts["m"].where(has_ymd, "1").str.zfill(2) + "-"
        + parts["d"].where(has_ymd, "1").str.zfill(2) + " " + parts["H"].fillna("0").str.zfill(2) + ":"
        + parts["M"].fillna("0").str.zfill(2) + ":" + parts["S"].fillna("0").str.zfill(2)
    )
    stamps = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    serial = pd.to_numeric(parts["serial"], errors="coerce")
    from_serial = pd.Series(
        pd.Timestamp("1899-12-30") + pd.to_timedelta(serial.fillna(0) * 86400, unit="s").dt.round("s"),
        index=values.index,
    )
    stamps = stamps.where(has_ymd, from_serial.where(serial.notna()))
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[values.notna() & ~(has_ymd | serial.notna())] = "not a date and time (write it as 2023-06-01 09:30)"
    reason[values.notna() & (has_ymd | serial.notna()) & stamps.isna()] = "not a real date and time"
    localised = stamps.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    out = localised.dt.strftime("%Y-%m-%d %H:%M:%S%z")
    return out.where(reason.isna() & localised.notna(), None), reason


def parse_uscc(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Unified Social Credit Codes, validated with stdnum's cn.uscc."""
    compact = values.str.replace(r"[\s\-]", "", regex=True).str.upper()
    reasons = []
    for code in compact.tolist():
        if not isinstance(code, str):
            reasons.append(None)
            continue
        try:
            uscc.validate(code)
            reasons.append(None)
        except InvalidLength:
            reasons.append(f"a Unified Social Credit Code has 18 characters, this has {len(code)}")
        except InvalidChecksum:
            reasons.append("Unified Social Credit Code check character is wrong (a character was probably mistyped)")
        except ValidationError:
            reasons.append("not a valid Unified Social Credit Code (18 characters of digits and capital letters, no I, O, S, V, Z)")
    reason = pd.Series(reasons, index=values.index, dtype=object)
    return compact.where(reason.isna()), reason


def parse_boolean(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    lowered = values.str.lower()
    out = pd.Series(None, index=values.index, dtype=object)
    out[lowered.isin(_TRUE)] = "t"
    out[lowered.isin(_FALSE)] = "f"
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[values.notna() & out.isna()] = "not yes/no (use 是 or 否)"
    return out, reason


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


@functools.lru_cache(maxsize=65536)
def _birth_date_reason(digits: str) -> str | None:
    """stdnum's birth-date rule for the 8 digits YYYYMMDD (a real calendar date), memoised per date."""
    try:
        ric.get_birth_date(f"000000{digits}0000")
    except ValidationError:
        return _BAD_DATE
    return None


def parse_resident_id(values: pd.Series, pseudonymiser: Pseudonymiser) -> tuple[pd.DataFrame, pd.Series]:
    """Validate resident IDs and replace them by pseudonym, birth year and sex.

    The rules are stdnum's (see `ric_reason`), applied in bulk because at a
    million rows every microsecond per value is a second: IDs of the usual
    shape (17 digits and a digit or X) are checked as one uint8 array
    (stdnum's check-digit formula over the array), and stdnum's birth-date
    and birth-place rules run once per distinct date and (region, year). Any
    other value goes through `ric_reason` for its specific message. The
    returned frame has no column holding the ID itself.
    """
    texts = values.tolist()
    size = len(texts)
    upper: list[str | None] = [v.upper() if isinstance(v, str) else None for v in texts]
    for i, v in enumerate(upper):
        if v is not None and (len(v) != 18 or not v.isascii()):
            # Spaces or hyphens inside an ID are rare; compacting only those keeps the usual case fast.
            upper[i] = re.sub(r"[\s\-]", "", v)
    usual = np.fromiter((v is not None and len(v) == 18 and v.isascii() for v in upper), dtype=bool, count=size)
    reasons = np.full(size, None, dtype=object)
    ok = np.zeros(size, dtype=bool)
    positions = np.flatnonzero(usual)
    if len(positions):
        block = np.frombuffer("".join(upper[i] for i in positions).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        digits = block.astype(np.int64) - 48
        last = block[:, 17]
        shaped = (digits[:, :17] >= 0).all(axis=1) & (digits[:, :17] <= 9).all(axis=1) & (
            ((last >= 48) & (last <= 57)) | (last == 88)
        )
        # stdnum's calc_check_digit is (1 - 2 * int(first 17 digits, base 13)) mod 11,
        # 10 written X. As 13 = 2 (mod 11), int(., 13) mod 11 is the sum of
        # d_i * 2^(16-i) mod 11: the same check, over the whole array at once
        # (0.7 s a million IDs as one call per ID; tests/test_parsers.py
        # compares the two on random IDs).
        weights_mod_11 = 2 ** np.arange(16, -1, -1, dtype=np.int64) % 11
        checksum = (1 - 2 * (digits[:, :17] @ weights_mod_11 % 11)) % 11
        expected = np.where(checksum == 10, ord("X"), ord("0") + checksum)
        checked = shaped & (last == expected)
        reasons[positions[shaped & ~checked]] = _BAD_CHECK
        weights = np.array([10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1], dtype=np.int64)
        dates = digits[:, 6:14] @ weights
        regions = digits[:, 0:6] @ weights[2:]
        years = dates // 10_000
        candidates = shaped & checked
        bad_dates = [d for d in np.unique(dates[candidates]) if _birth_date_reason(f"{int(d):08d}") is not None]
        bad_date = candidates & np.isin(dates, bad_dates)
        reasons[positions[bad_date]] = _BAD_DATE
        candidates &= ~bad_date
        region_years = regions * 10_000 + years
        bad_pairs = [
            pair
            for pair in np.unique(region_years[candidates])
            if _ric_place_reason(f"{int(pair) // 10_000:06d}", f"{int(pair) % 10_000:04d}") is not None
        ]
        if bad_pairs:
            bad_place = candidates & np.isin(region_years, bad_pairs)
            reasons[positions[bad_place]] = "region code in the ID is not a known county for that birth year"
            candidates &= ~bad_place
        ok[positions[candidates]] = True
        birth_years = np.zeros(size, dtype=np.int64)
        birth_years[positions] = years
        sex_digit = np.zeros(size, dtype=np.int64)
        sex_digit[positions] = digits[:, 16]
    for i in np.flatnonzero(~usual):
        if upper[i] is not None:
            reasons[i] = ric_reason(upper[i])
    good_positions = np.flatnonzero(ok)
    pseudonyms = np.full(size, None, dtype=object)
    pseudonyms[good_positions] = pseudonymiser.pseudonymise_many([upper[i] for i in good_positions])
    year_out = np.full(size, None, dtype=object)
    sex_out = np.full(size, None, dtype=object)
    if len(good_positions):
        year_out[good_positions] = birth_years[good_positions]
        sex_out[good_positions] = np.where(sex_digit[good_positions] % 2 == 1, "male", "female")
    frame = pd.DataFrame(
        {
            "pseudonym": pd.Series(pseudonyms, index=values.index, dtype=object),
            "birth_year": pd.Series(year_out, index=values.index, dtype=object),
            "sex": pd.Series(sex_out, index=values.index, dtype=object),
        }
    )
    return frame, pd.Series(reasons, index=values.index, dtype=object)


def mask_resident_id(value: object) -> object:
    """What quarantine keeps of an ID: its shape, never the number."""
    if not isinstance(value, str) or not value:
        return value
    return f"<resident ID masked, {len(value.strip())} characters>"


def parse_chunk(
    spec: ExtractSpec,
    chunk: pd.DataFrame,
    headers: dict[str, str],
    pseudonymiser: Pseudonymiser,
    *,
    may_hold_undecodable: bool = True,
) -> ParsedChunk:
    """Type every column of a chunk; rows with any rejected cell go to quarantine.

    `may_hold_undecodable` is False when the reader decoded the whole file
    cleanly, which spares searching every cell for replacement characters.
    """
    out = pd.DataFrame(index=chunk.index)
    reasons: dict[str, pd.Series] = {}
    for col in spec.columns:
        raw = chunk[col.name]
        text, _ = per_distinct(_clean_with_no_reason, raw)
        reason = _parse_column(col, text, out, pseudonymiser, spec.timezone)
        if not col.nullable and col.name in headers:
            reason = reason.where(text.notna() | reason.notna(), "required value is empty")
        if may_hold_undecodable:
            undecodable = raw.str.contains(REPLACEMENT, regex=False).fillna(False).astype(bool)
            reason = reason.where(~undecodable, "bytes that are not valid in the file's encoding (UTF-8 or GB18030)")
        reasons[col.name] = reason
    reason_frame = pd.DataFrame(reasons)
    rejected = reason_frame.notna().any(axis=1)
    out[ROW_NUMBER] = chunk[ROW_NUMBER]
    valid = out[~rejected]
    rejects = _rejects(spec, chunk, reason_frame[rejected], headers)
    return ParsedChunk(valid, rejects)


def _parse_column(col: Column, text: pd.Series, out: pd.DataFrame, pseudonymiser: Pseudonymiser, timezone: str) -> pd.Series:
    if col.type is ColumnType.RESIDENT_ID:
        frame, reason = parse_resident_id(text, pseudonymiser)
        names = [name for name, _ in col.warehouse_columns()]
        out[names[0]] = frame["pseudonym"]
        out[names[1]] = frame["birth_year"]
        out[names[2]] = frame["sex"]
        return reason
    if col.type is ColumnType.TEXT:
        out[col.name] = text
        return pd.Series(None, index=text.index, dtype=object)
    if col.type is ColumnType.DATETIME:
        values, reason = per_distinct(parse_datetime, text, timezone)
    else:
        parser = {
            ColumnType.INTEGER: parse_integer,
            ColumnType.DECIMAL: parse_decimal,
            ColumnType.DATE: parse_date,
            ColumnType.BOOLEAN: parse_boolean,
            ColumnType.USCC: parse_uscc,
        }[col.type]
        values, reason = per_distinct(parser, text)
    out[col.name] = values
    return reason


def _rejects(
    spec: ExtractSpec,
    chunk: pd.DataFrame,
    reasons: pd.DataFrame,
    headers: dict[str, str],
) -> pd.DataFrame:
    records = []
    personal = {c.name for c in spec.columns if c.is_personal}
    for idx, row_reasons in reasons.iterrows():
        record = {}
        for col in spec.columns:
            value = chunk.at[idx, col.name]
            record[headers.get(col.name, col.name)] = mask_resident_id(value) if col.name in personal else value
        for name, reason in row_reasons.items():
            if reason is None or (isinstance(reason, float) and np.isnan(reason)):
                continue
            records.append(
                {
                    "row_number": int(chunk.at[idx, ROW_NUMBER]),
                    "column": headers.get(name, spec.column(name).aliases[0]),
                    "reason": reason,
                    "raw_record": record,
                }
            )
    return pd.DataFrame(records, columns=["row_number", "column", "reason", "raw_record"])


__all__ = ["ParsedChunk", "parse_chunk", "ric_reason", "mask_resident_id"]
