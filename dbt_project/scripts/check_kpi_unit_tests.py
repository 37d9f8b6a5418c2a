"""Check that every KPI in seeds/kpi_definitions.csv is exercised by a dbt unit test.

House rule: every KPI formula has a unit test. dbt cannot see unit tests from
SQL, so this reads the manifest that `dbt parse` writes and fails (exit 1),
naming the KPI codes that no unit test mentions in its given or expected rows.

    cd dbt_project && dbt parse && python scripts/check_kpi_unit_tests.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def uncovered_kpi_codes(manifest_path: Path, definitions_path: Path) -> list[str]:
    """KPI codes of the definitions seed that appear in no unit test."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    with definitions_path.open(encoding="utf-8", newline="") as f:
        codes = [row["kpi_code"] for row in csv.DictReader(f)]
    unit_test_texts = [
        json.dumps([test["given"], test["expect"]], ensure_ascii=False)
        for test in manifest["unit_tests"].values()
    ]
    return [code for code in codes if not any(f'"{code}"' in text for text in unit_test_texts)]


def main() -> int:
    manifest_path = PROJECT_DIR / "target" / "manifest.json"
    if not manifest_path.exists():
        print(f"{manifest_path} not found: run `dbt parse` in {PROJECT_DIR} first", file=sys.stderr)
        return 2
    missing = uncovered_kpi_codes(manifest_path, PROJECT_DIR / "seeds" / "kpi_definitions.csv")
    if missing:
        print("KPI codes without a unit test: " + ", ".join(missing), file=sys.stderr)
        return 1
    print("every KPI in kpi_definitions.csv is covered by a unit test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
