"""The departments govkpi loads, each with its extract specs."""

from __future__ import annotations

from ingestion.spec import Department, ExtractSpec
from ingestion.specs.enforcement import ENFORCEMENT
from ingestion.specs.health import HEALTH
from ingestion.specs.hrss import HRSS

DEPARTMENTS: dict[str, Department] = {d.code: d for d in (HRSS, HEALTH, ENFORCEMENT)}


def department(code: str) -> Department:
    try:
        return DEPARTMENTS[code]
    except KeyError:
        known = ", ".join(sorted(DEPARTMENTS))
        raise KeyError(f"unknown department {code!r}; known departments: {known}") from None


def all_extracts() -> list[ExtractSpec]:
    return [spec for dept in DEPARTMENTS.values() for spec in dept.extracts]
