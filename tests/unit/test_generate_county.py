"""sample_data/generate_county.py: a synthetic county landing folder the loader can take as it is.

Three townships (the bundled one, t02, t03) over two years (2022-2023),
generated once per module (twice, for the determinism check). The files are
read with the loader's own readers and specs, so a layout, naming or header
the loader would refuse fails here, without a database.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from ingestion.areas import AreaRegister
from ingestion.parsers import parse_chunk
from ingestion.pii import Pseudonymiser
from ingestion.readers import open_extract
from ingestion.spec import TOWNSHIP, ColumnType
from ingestion.specs import department
from sample_data._synthetic import SampleDataError
from sample_data.generate_county import generate_county

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
DEPARTMENTS = ("hrss", "health", "enforcement")
MONTHS = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)]
BUNDLED_PREFIX = "341099101_"
# county file stem -> the spec that must recognise it
COUNTY_FILES = {
    "全县培训班级台账": "hrss_training_class",
    "全县培训学员花名册": "hrss_enrolment",
    "全县技能证书发放名册": "hrss_certificate",
    "全县就业跟踪台账": "hrss_placement",
    "全县病房床位登记": "health_ward",
    "全县住院病人登记": "health_admission",
    "全县专家查房记录": "health_expert_round",
    "全县远程诊断申请": "health_remote_reading",
    "全县临时医疗救助发放表": "health_medical_aid",
    "全县执法队员花名册": "enf_officer_assignment",
    "全县案件登记台账": "enf_case",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("county") / "landing"
    summary = generate_county(out, townships=3, years=2)
    return out, summary


@pytest.fixture(scope="module")
def county(generated: tuple[Path, dict]) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def register(county: Path) -> AreaRegister:
    return AreaRegister.from_landing(county)


@pytest.fixture(scope="module")
def county_files(county: Path) -> list[tuple[str, Path]]:
    return [(d, p) for d in DEPARTMENTS for p in sorted((county / d).glob("*/全县*"))]


@pytest.fixture(scope="module")
def opened_rows(county_files: list[tuple[str, Path]]) -> dict[Path, list]:
    """Each county file as the loader reads it: its spec, header map and text rows (one polars frame per chunk)."""
    out = {}
    for dept, path in county_files:
        spec = department(dept).spec_for(path.name)
        opened = open_extract(spec, path)
        out[path] = (spec, opened.header, [chunk.rows for chunk in opened.chunks])
    return out


def test_layout_months_and_delivery_markers(county: Path):
    assert (county / "register" / "areas.csv").is_file()
    readme = (county / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme and "--townships 3 --years 2" in readme
    assert sorted(p.name for p in county.iterdir()) == ["README.md", "enforcement", "health", "hrss", "register"]
    for dept in DEPARTMENTS:
        assert sorted(p.name for p in (county / dept).iterdir()) == MONTHS
        for month in MONTHS:
            folder = county / dept / month
            lines = (folder / "_DELIVERED").read_text(encoding="utf-8").splitlines()
            assert lines[0] == f"synthetic sample delivery: {dept} {month}"
            names = sorted(p.name for p in folder.iterdir() if p.name != "_DELIVERED")
            listed = [line.rsplit("  ", 1) for line in lines[1:]]
            if not names:
                assert lines[1:] == ["nothing to report this month: no extract has a row dated in it, so no files"]
                continue
            assert [name for name, _ in listed] == names, "every file listed, sorted"
            for name, digest in listed:
                assert sha256(folder / name) == digest, f"{dept}/{month}/{name}"
                assert (folder / name).stat().st_mtime_ns <= (folder / "_DELIVERED").stat().st_mtime_ns
    # something happens every month in health and enforcement
    for dept in ("health", "enforcement"):
        assert all(any((county / dept / m).glob("全县*")) for m in MONTHS)


def test_the_bundled_township_is_embedded_byte_for_byte_in_2023_only(county: Path):
    for dept in DEPARTMENTS:
        for month in MONTHS:
            folder = county / dept / month
            bundled = sorted(p.name for p in folder.iterdir() if p.name.startswith(BUNDLED_PREFIX))
            others = sorted(p.name for p in folder.iterdir() if p.name != "_DELIVERED" and not p.name.startswith(BUNDLED_PREFIX))
            assert all(name.startswith("全县") for name in others)
            if month < "2023":
                assert bundled == []
                continue
            sources = sorted(p for p in (SAMPLE / dept / month).iterdir() if p.name not in ("_DELIVERED", "README.md"))
            assert bundled == [BUNDLED_PREFIX + p.name for p in sources]
            for source in sources:
                assert (folder / (BUNDLED_PREFIX + source.name)).read_bytes() == source.read_bytes()


def test_the_loader_tells_whose_file_each_is(county: Path, register: AreaRegister):
    """A bundled file's name names its township by division code; a county file's name names none."""
    for dept in DEPARTMENTS:
        for path in (county / dept).glob("*/*"):
            if path.name.startswith(BUNDLED_PREFIX):
                assert register.file_township(path.name) == "township", path.name
            elif path.name != "_DELIVERED":
                assert register.file_township(path.name) is None, path.name


def test_county_files_are_recognised_by_their_spec_with_the_township_and_every_required_column(
    county_files: list[tuple[str, Path]], opened_rows: dict
):
    seen = set()
    for dept, path in county_files:
        stem, month_ext = path.name.rsplit("_", 1)
        assert stem in COUNTY_FILES, path.name
        spec = department(dept).spec_for(path.name)
        assert spec is not None and spec.name == COUNTY_FILES[stem], path.name
        assert month_ext.split(".")[0] == path.parent.name
        _, header, _ = opened_rows[path]
        assert header.headers.get(TOWNSHIP.name) == "乡镇", path.name
        required = [c.name for c in spec.columns if c.required]
        assert all(name in header.positions for name in required), (path.name, header.headers)
        assert not header.unknown, (path.name, header.unknown)
        seen.add(stem)
    assert seen == set(COUNTY_FILES), "every extract has county files"


def test_county_files_hold_only_generated_townships_and_their_villages(
    county_files: list[tuple[str, Path]], opened_rows: dict, register: AreaRegister
):
    generated = {name: code for name, code in register.townships.items() if code in ("t02", "t03")}
    found: set[str] = set()
    checked = 0
    for _, path in county_files:
        spec, header, frames = opened_rows[path]
        village = next((c.name for c in spec.columns if c.type is ColumnType.VILLAGE), None)
        for frame in frames:
            townships = frame[TOWNSHIP.name].to_list()
            assert set(townships) <= set(generated), path.name
            found |= set(townships)
            if village:
                for town, place in zip(townships, frame[village].to_list()):
                    assert place in register.villages[generated[town]], (path.name, town, place)
                    checked += 1
    assert found == set(generated)
    assert checked > 10_000


def test_every_row_loads_without_a_reject(county: Path, register: AreaRegister):
    """Two months end to end through the loader's parser (townships, villages, IDs, dates), bundled files included."""
    pseudonymiser = Pseudonymiser(b"k" * 40)
    for month in ("2022-12", "2023-06"):
        for dept in DEPARTMENTS:
            for path in sorted((county / dept / month).iterdir()):
                if path.name == "_DELIVERED":
                    continue
                spec = department(dept).spec_for(path.name)
                opened = open_extract(spec, path)
                for chunk in opened.chunks:
                    parsed = parse_chunk(spec, chunk.rows, opened.header.headers, pseudonymiser, areas=register,
                                         file_township=register.file_township(path.name))
                    assert not parsed.rejects, (path.name, parsed.rejects[:3])


def test_register_has_three_townships_and_village_names_repeating_across_them(county: Path, register: AreaRegister):
    text = (county / "register" / "areas.csv").read_text(encoding="utf-8")
    bundled = (SAMPLE / "register" / "areas.csv").read_text(encoding="utf-8")
    assert text.startswith(bundled), "the county, the bundled township and its villages verbatim first"
    assert "\r" not in text
    rows = list(csv.DictReader(text.splitlines()))
    townships = [r for r in rows if r["area_level"] == "township"]
    assert [r["area_code"] for r in townships] == ["township", "t02", "t03"]
    assert [r["division_code"] for r in townships] == ["341099101", "341099102", "341099103"]
    for r in townships[1:]:
        assert r["name_zh"].endswith(("镇", "乡")) and r["parent_area_code"] == "county" and r["name_en"]
    villages = [r for r in rows if r["area_level"] == "village"]
    for code in ("t02", "t03"):
        own = [r for r in villages if r["parent_area_code"] == code]
        assert 10 <= len(own) <= 25
        assert [r["area_code"] for r in own] == [f"{code}v{i:02d}" for i in range(1, len(own) + 1)]
        division = next(r["division_code"] for r in townships if r["area_code"] == code)
        assert [r["division_code"] for r in own] == [f"{division}{200 + i}" for i in range(1, len(own) + 1)]
    where = defaultdict(set)
    for r in villages:
        where[r["name_zh"]].add(r["parent_area_code"])
    repeated = {name for name, parents in where.items() if len(parents) > 1}
    assert len(repeated) >= 3
    assert "东岗村" in repeated and "township" in where["东岗村"]
    assert set(register.townships.values()) == {"township", "t02", "t03"}


def test_some_trainees_train_in_both_generated_townships_each_year(
    county_files: list[tuple[str, Path]], opened_rows: dict
):
    people = defaultdict(set)  # (year, township) -> raw ID strings
    for _, path in county_files:
        spec, _, frames = opened_rows[path]
        if spec.name != "hrss_enrolment":
            continue
        for frame in frames:
            for town, person in zip(frame[TOWNSHIP.name].to_list(), frame["person_id"].to_list()):
                people[(path.parent.name[:4], town)].add(person)
    for year in ("2022", "2023"):
        a, b = (people[key] for key in sorted(k for k in people if k[0] == year))
        shared = a & b
        assert 0 < len(shared) <= 0.06 * min(len(a), len(b)), (year, len(shared), len(a), len(b))


def test_summary_counts_rows_per_department_extract_and_month(generated: tuple[Path, dict]):
    _, summary = generated
    assert set(summary) == set(DEPARTMENTS)
    assert set(summary["health"]) == {"health_ward", "health_admission", "health_expert_round",
                                      "health_remote_reading", "health_medical_aid"}
    for extracts in summary.values():
        for per_month in extracts.values():
            assert list(per_month) == MONTHS
    admissions = sum(summary["health"]["health_admission"].values())
    assert 2 * 2 * 1250 * 0.7 < admissions < 2 * 2 * 1250 * 1.3, "about the bundled township's volume per township and year"


def test_a_second_run_gives_identical_bytes(county: Path, tmp_path_factory: pytest.TempPathFactory):
    again = tmp_path_factory.mktemp("again") / "landing"
    generate_county(again, townships=3, years=2)
    first, second = files_of(county), files_of(again)
    assert list(first) == list(second)
    assert first == second


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(SampleDataError, match="not an empty folder"):
        generate_county(tmp_path, townships=3, years=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
