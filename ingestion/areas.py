"""The area register, as the loader checks it: which villages exist, so an unknown one is quarantined at load.

The register is the dbt seed `seeds/areas.csv` (area_code, name_zh,
name_en, area_level, parent_area_code), the same table `dim_area` is built
from: one home for the areas. A fact row whose village is not in it would
otherwise load, get no area in the marts and stop publication at a dbt
`not_null` test; checked here, only that row is set aside, with its file,
row and column and the names the register knows, and the rest loads.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from govkpi.errors import SettingsError

SEED = Path("seeds") / "areas.csv"


@dataclass(frozen=True)
class AreaRegister:
    villages: frozenset[str]
    source: str

    @classmethod
    def from_dbt_project(cls, dbt_project_dir: Path) -> AreaRegister:
        path = dbt_project_dir / SEED
        try:
            with path.open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
        except FileNotFoundError:
            raise SettingsError(f"the area register {path} does not exist: the dbt project must have seeds/areas.csv") from None
        villages = frozenset(r["name_zh"].strip() for r in rows if r.get("area_level") == "village" and r.get("name_zh"))
        if not villages:
            raise SettingsError(f"the area register {path} lists no village (area_level 'village')")
        return cls(villages, str(SEED))

    def unknown_village_reasons(self, values: pl.Series) -> pl.Series:
        """Per value: None for a known village (or an empty cell), else why it was rejected and what to do."""
        known = "、".join(sorted(self.villages))
        return pl.select(
            pl.when(values.is_not_null() & ~values.is_in(list(self.villages)))
            .then(
                pl.lit("unknown village '")
                + values
                + pl.lit(
                    f"': not in the area register ({self.source}); correct the name to one of {known}, "
                    "or add the village to the register"
                )
            )
        ).to_series().alias(values.name)
