"""The KPI registry, as Python reads it: `vars.kpi_measures` of dbt_project.yml.

dbt generates the KPI layer's SQL from the same rows (macros/kpi_measures.sql,
which also checks them); here they answer "which mart model and which date
does this KPI come from" for `govkpi lineage` and the tests. Adding a KPI is
described in docs/adding-a-kpi.md.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml

from govkpi.errors import GovkpiError

EVENT_KINDS = ("count", "sum", "median")
RANGE_KINDS = ("count_at_period_end", "sum_at_period_end", "sum_per_day")


@dataclass(frozen=True)
class Measure:
    measure: str
    kind: str
    model: str | None = None
    date: str | None = None
    breakdown: str | None = None
    joins: tuple[str, ...] = ()
    where: str | None = None
    numerator: str | None = None
    denominator: str | None = None


@dataclass(frozen=True)
class Source:
    """A mart model a KPI reads, and the column that dates its rows into a period (None: a state over ranges)."""

    model: str
    date: str | None
    where: str | None = None


@dataclass(frozen=True)
class Registry:
    measures: dict[str, Measure]
    breakdown_models: dict[str, str]
    # the KPIs: codes of seeds/kpi_definitions.csv (the other measures only feed ratios)
    kpis: tuple[str, ...]

    def sources(self, code: str) -> list[Source]:
        """The mart models a measure reads (a ratio: its two measures'), with their dating columns, in order."""
        measure = self.measures.get(code)
        if measure is None:
            raise GovkpiError(f"{code!r} is not in the KPI registry (vars.kpi_measures of dbt_project.yml)")
        if measure.kind == "ratio":
            found: list[Source] = []
            for part in (measure.numerator, measure.denominator):
                found += [s for s in self.sources(str(part)) if s not in found]
            return found
        return [Source(str(measure.model), measure.date, measure.where)]

    def models(self, code: str) -> list[str]:
        """Every model a measure reads: its sources' and those of its breakdown and joins."""
        measure = self.measures[code]
        parts = [measure.numerator, measure.denominator] if measure.kind == "ratio" else []
        names = [s.model for s in self.sources(code)]
        for m in [measure, *(self.measures[str(p)] for p in parts)]:
            names += [self.breakdown_models[b] for b in (m.breakdown, *m.joins) if b]
        return list(dict.fromkeys(names))


def load_registry(dbt_project_dir: Path) -> Registry:
    project = yaml.safe_load((dbt_project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    variables = project.get("vars") or {}
    measures = {
        row["measure"]: Measure(
            measure=row["measure"],
            kind=row["kind"],
            model=row.get("model"),
            date=row.get("date"),
            breakdown=row.get("breakdown"),
            joins=tuple(row.get("joins") or ()),
            where=row.get("where"),
            numerator=row.get("numerator"),
            denominator=row.get("denominator"),
        )
        for row in variables.get("kpi_measures") or []
    }
    breakdowns = {name: spec["model"] for name, spec in (variables.get("kpi_breakdowns") or {}).items()}
    with (dbt_project_dir / "seeds" / "kpi_definitions.csv").open(encoding="utf-8", newline="") as f:
        kpis = tuple(row["kpi_code"] for row in csv.DictReader(f))
    return Registry(measures, breakdowns, kpis)
