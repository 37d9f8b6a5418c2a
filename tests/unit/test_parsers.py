"""Typing of extract cells: dates as clerks write them, IDs as Excel mangles them."""

from __future__ import annotations

import hmac

import polars as pl
import pytest
from stdnum.cn import ric

from ingestion.parsers import _BAD_CHECK, parse_boolean, parse_date, parse_decimal, parse_integer, parse_resident_id, ric_reason
from ingestion.pii import Pseudonymiser


def valid_id(prefix17: str) -> str:
    return prefix17 + ric.calc_check_digit(prefix17 + "0")


def test_dates_in_clerk_styles_parse_to_the_same_day():
    styles = ["2023-03-06", "2023/3/6", "2023.3.6", "2023年3月6日", "20230306", "2023-03-06 00:00:00", "44991"]
    dates, reasons = parse_date(pl.Series(styles, dtype=pl.String))
    assert dates.to_list() == ["2023-03-06"] * len(styles)
    assert reasons.is_null().all()


def test_impossible_and_unreadable_dates_are_rejected_with_reasons():
    dates, reasons = parse_date(pl.Series(["2023-02-30", "三月六日", None], dtype=pl.String))
    assert dates.is_null().all()
    assert reasons[0] == "not a real calendar date"
    assert reasons[1].startswith("not a date")
    assert reasons[2] is None  # an empty cell is the nullability check's business


def test_numbers_booleans_and_amounts():
    ints, r1 = parse_integer(pl.Series(["40", "1,200", "12.0", "4x"], dtype=pl.String))
    assert ints.to_list()[:3] == [40, 1200, 12] and r1[:3].is_null().all() and r1[3] == "not a whole number"
    amounts, r2 = parse_decimal(pl.Series(["3,500.50", "¥2000", "2000元", "abc"], dtype=pl.String))
    assert amounts.to_list()[:3] == ["3500.50", "2000", "2000"] and r2[:3].is_null().all() and r2[3] == "not a number"
    flags, r3 = parse_boolean(pl.Series(["是", "否", "Y", "maybe"], dtype=pl.String))
    assert flags.to_list()[:3] == ["t", "f", "t"] and r3[:3].is_null().all() and r3[3].startswith("not yes/no")


def test_resident_id_rules_match_stdnum_and_explain_the_problem():
    good = valid_id("34012119850615123")
    assert ric.is_valid(good) and ric_reason(good) is None
    wrong_digit = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not ric.is_valid(wrong_digit)
    assert "check digit" in ric_reason(wrong_digit)
    assert "scientific notation" in ric_reason("3.40121E+17")
    assert "15-digit" in ric_reason("340121850615123")
    bad_date = valid_id("34012119851315123")  # month 13: valid check digit, impossible date
    assert not ric.is_valid(bad_date) and "birth date" in ric_reason(bad_date)
    bad_place = valid_id("99999919850615123")
    assert not ric.is_valid(bad_place) and "region code" in ric_reason(bad_place)


def test_resident_ids_become_pseudonym_birth_year_and_sex_only():
    key = b"k" * 40
    male = valid_id("34012119850615123")  # digit 17 = 3: odd, male
    female = valid_id("34012119920101124")
    frame, reasons = parse_resident_id(pl.Series([male, female.lower()], dtype=pl.String), Pseudonymiser(key))
    assert reasons.is_null().all()
    assert frame["pseudonym"][0] == hmac.new(key, male.encode(), "sha256").hexdigest()
    assert frame["pseudonym"][1] == hmac.new(key, female.upper().encode(), "sha256").hexdigest()
    assert frame["birth_year"].to_list() == [1985, 1992]
    assert frame["sex"].to_list() == ["male", "female"]
    assert male not in str(frame.rows())


@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 64, b"long" * 40])
def test_pseudonym_is_hmac_sha256(key):
    assert Pseudonymiser(key).pseudonymise("abc") == hmac.new(key, b"abc", "sha256").hexdigest()


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        Pseudonymiser(b"short")


def test_local_date_times_in_clerk_styles():
    from ingestion.parsers import parse_datetime

    values = pl.Series(
        ["2023-06-01 09:30", "2023/6/1 9:30:15", "2023年6月1日 9时30分", "45078.396875", "2023-06-01", "下午三点"],
        dtype=pl.String,
    )
    stamps, reasons = parse_datetime(values, "Asia/Shanghai")
    assert stamps.to_list()[:5] == [
        "2023-06-01 09:30:00+0800",
        "2023-06-01 09:30:15+0800",
        "2023-06-01 09:30:00+0800",
        "2023-06-01 09:31:30+0800",
        "2023-06-01 00:00:00+0800",
    ]
    assert reasons[:5].is_null().all() and reasons[5].startswith("not a date and time")


def test_unified_social_credit_codes_are_checked_with_stdnum():
    from stdnum.cn import uscc

    from ingestion.parsers import parse_uscc

    body = "91340121MA2N0PQR1"
    good = body + uscc.calc_check_digit(body)
    wrong = body + ("0" if uscc.calc_check_digit(body) != "0" else "1")
    codes, reasons = parse_uscc(pl.Series([good.lower(), wrong, "9134012", None], dtype=pl.String))
    assert codes[0] == good and reasons[0] is None
    assert "check character is wrong" in reasons[1]
    assert "18 characters" in reasons[2]
    assert reasons[3] is None


def test_bulk_resident_id_validation_agrees_with_stdnum_on_random_ids():
    import random

    rng = random.Random(20231126)
    regions = ["340121", "340421", "340621", "410922", "999999", "110105"]
    values = []
    for _ in range(3000):
        body = rng.choice(regions) + f"{rng.randint(1930, 2012)}{rng.randint(1, 13):02d}{rng.randint(1, 31):02d}{rng.randint(0, 999):03d}"
        check = ric.calc_check_digit(body + "0")
        if rng.random() < 0.3:
            check = rng.choice("0123456789X")
        values.append(body + (check.lower() if rng.random() < 0.1 else check))
    values += ["3.40121E+17", "34012119850615123", "", None, "34012119850615 1234", "３４０１２１", "34012119850615123A", "3401211985061512 3"]
    frame, reasons = parse_resident_id(pl.Series(values, dtype=pl.String), Pseudonymiser(b"k" * 40))
    for value, reason, pseudonym in zip(values, reasons, frame["pseudonym"]):
        if not isinstance(value, str) or not value:
            continue
        valid = ric.is_valid(value.upper().replace(" ", ""))
        assert (reason is None) == valid, (value, reason)
        assert (pseudonym is not None) == valid
        number = value.upper().replace(" ", "")
        if len(number) == 18 and number[:17].isdigit() and number[-1] in "0123456789X":
            # The check digit is judged as stdnum judges it, with its own message.
            assert (reason == _BAD_CHECK) == (number[-1] != ric.calc_check_digit(number)), (value, reason)
