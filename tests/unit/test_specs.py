"""Every extract carries its township: a county's exports mix townships, and IDs are numbered per township."""

from __future__ import annotations

import pytest

from ingestion.spec import TOWNSHIP, ColumnType
from ingestion.specs import all_extracts


@pytest.mark.parametrize("spec", all_extracts(), ids=lambda s: s.name)
def test_every_extract_has_the_township_column_first_in_its_key(spec):
    townships = [c for c in spec.columns if c.type is ColumnType.TOWNSHIP]
    assert townships == [TOWNSHIP], "one township column, the shared one (its 乡镇 aliases)"
    assert not TOWNSHIP.required, "a township's own file may leave it out"
    assert spec.key[0] == TOWNSHIP.name, "IDs are unique only within a township"
    assert ("township_code", "text") in spec.warehouse_columns()
