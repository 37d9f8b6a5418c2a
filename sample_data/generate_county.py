"""Generate a synthetic county landing folder: many townships, several years, the bundled township inside.

    .venv/bin/python -m sample_data.generate_county --townships 20 --years 5 --out /tmp/county [--seed N]

**Everything it writes is synthetic**: names, resident ID numbers, phone
numbers, credit codes, dates, places and figures are drawn from a fixed
random seed; no row describes a real person or record. The ID numbers pass
the format check (check digit, birth date, region code) and are never paired
with a real name.

What a county data office receives, in the real layout
(`<department>/<YYYY-MM>/`, `_DELIVERED` written last in each month folder;
sample_data/README.md, "Monthly deliveries"):

- `register/areas.csv`: the county's area register. The county row and the
  bundled township (`township`, `**镇`) with its 23 villages are copied
  verbatim from sample_data/register/areas.csv; townships `t02` .. `tNN` get
  invented names, division codes 341099102, 341099103, ... and 10 to 25
  villages each (`t02v01` .., 12-digit codes). Some village names recur in
  several townships (东岗村, 新庄村, 红星村 ...), as in real counties: a
  village is known within its township.
- For the generated townships, one **county file** per extract and month
  (`全县住院病人登记_2023-03.csv`) holding the month's rows of all of them, with
  a `乡镇` column naming each row's township: CSV (UTF-8 with BOM, CRLF,
  header on line 1; the trainee roster GB18030 as the bundled one; the aid
  form with the county form's two-row header, which its spec requires), and
  the two registers delivered whole every month (ward beds, officer roster)
  as XLSX snapshots at the month's end.
- For the bundled township, its 2023 files **byte-identical** to sample_data/,
  named with its division code in front (`341099101_住院病人登记_2023-03.csv`):
  a township's own file, whose township the loader takes from its name. It
  has no data in other years.

The last year is 2023, the bundled township's; `--years 5` covers
2019–2023. Per generated township and year the volumes are about the bundled
township's 2023 volumes (±25 %), so 20 townships × 5 years is about 100 ×
the sample. About 2 % of a township's trainees in a year also train in
another generated township that year (same resident ID), so a county
distinct count is below the sum of its townships'.

The rows are checked before anything is written (`SampleDataError` if a
check fails), written into a scratch folder `DIR/.generate_county-*`, the
deliveries checked there (markers, hashes, the bundled copies), and only
then moved into DIR, which must be new or empty.

Deterministic: the same arguments give byte-identical files, `_DELIVERED`
markers and README included (string-seeded random generators, no clock,
sorted output, fixed XLSX properties and zip times from `_synthetic`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.cell import WriteOnlyCell
from stdnum.cn import ric, uscc

try:  # imported as sample_data.generate_county
    from . import _synthetic as syn
except ImportError:  # run as a script from this folder
    import _synthetic as syn  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
SEEDS_DIR = HERE.parent / "dbt_project" / "seeds"
SCRIPT = "generate_county.py"
SEED = 20240611
LAST_YEAR = 2023  # the bundled township's year
MAX_YEARS = 8  # from 2016: the warehouse calendar (dim_date) starts in 2015, registers a little before the years
DEPARTMENTS = ("hrss", "health", "enforcement")
BUNDLED_DIVISION = "341099101"
COUNTY_DIVISION = "341099"
SCRATCH_PREFIX = ".generate_county-"
USCC_REGION_CODE = "340121"  # as the bundled enforcement sample's parties

# --------------------------------------------------------------------------
# Names (all invented)
# --------------------------------------------------------------------------

TOWNS = (
    ("青山镇", "Qingshan Town"), ("龙泉镇", "Longquan Town"), ("双河镇", "Shuanghe Town"),
    ("柳林乡", "Liulin Township"), ("高桥镇", "Gaoqiao Town"), ("新集镇", "Xinji Town"),
    ("大王庄乡", "Dawangzhuang Township"), ("三里湾镇", "Sanliwan Town"), ("黄土岭乡", "Huangtuling Township"),
    ("清河镇", "Qinghe Town"), ("梨园乡", "Liyuan Township"), ("安丰镇", "Anfeng Town"),
    ("永宁镇", "Yongning Town"), ("金山乡", "Jinshan Township"), ("红庙镇", "Hongmiao Town"),
    ("花园乡", "Huayuan Township"), ("古城镇", "Gucheng Town"), ("平安乡", "Ping'an Township"),
    ("长岗镇", "Changgang Town"), ("太平乡", "Taiping Township"), ("杨集镇", "Yangji Town"),
    ("石门镇", "Shimen Town"), ("桃源乡", "Taoyuan Township"), ("河口镇", "Hekou Town"),
    ("南湖乡", "Nanhu Township"), ("北关镇", "Beiguan Town"), ("东风乡", "Dongfeng Township"),
    ("西湖镇", "Xihu Town"), ("马店镇", "Madian Town"), ("松林乡", "Songlin Township"),
    ("官庄镇", "Guanzhuang Town"), ("兴隆乡", "Xinglong Township"), ("白马镇", "Baima Town"),
    ("丰乐镇", "Fengle Town"), ("汤池乡", "Tangchi Township"), ("罗集镇", "Luoji Town"),
    ("孙岗乡", "Sungang Township"), ("曹庙镇", "Caomiao Town"), ("朱巷镇", "Zhuxiang Town"),
    ("吴山镇", "Wushan Town"),
)
# Village names many counties repeat. The first three are in t02 and t03
# (so any county of 3+ townships repeats them), 东岗村 and 李庄村 are also
# villages of the bundled township; every other generated township draws 1-3.
COMMON_VILLAGES = (
    ("东岗村", "Donggang Village"), ("新庄村", "Xinzhuang Village"), ("红星村", "Hongxing Village"),
    ("李庄村", "Lizhuang Village"), ("前进村", "Qianjin Village"), ("胜利村", "Shengli Village"),
)
VILLAGE_PREFIXES = (
    ("朱", "Zhu"), ("陈", "Chen"), ("刘", "Liu"), ("周", "Zhou"), ("吴", "Wu"), ("郑", "Zheng"), ("孙", "Sun"),
    ("钱", "Qian"), ("赵", "Zhao"), ("冯", "Feng"), ("褚", "Chu"), ("卫", "Wei"), ("蒋", "Jiang"), ("沈", "Shen"),
    ("韩", "Han"), ("杨", "Yang"), ("秦", "Qin"), ("许", "Xu"), ("何", "He"), ("吕", "Lyu"), ("施", "Shi"),
    ("孔", "Kong"), ("曹", "Cao"), ("严", "Yan"), ("华", "Hua"), ("金", "Jin"), ("魏", "Wei"), ("陶", "Tao"),
    ("姜", "Jiang"), ("谢", "Xie"), ("邹", "Zou"), ("柏", "Bai"), ("窦", "Dou"), ("章", "Zhang"), ("苏", "Su"),
    ("潘", "Pan"), ("葛", "Ge"), ("范", "Fan"), ("彭", "Peng"), ("鲁", "Lu"), ("韦", "Wei"), ("马", "Ma"),
    ("苗", "Miao"), ("方", "Fang"), ("俞", "Yu"), ("任", "Ren"), ("袁", "Yuan"), ("鲍", "Bao"), ("史", "Shi"),
    ("唐", "Tang"), ("薛", "Xue"), ("雷", "Lei"), ("贺", "He"), ("倪", "Ni"), ("汤", "Tang"), ("罗", "Luo"),
    ("毕", "Bi"), ("郝", "Hao"), ("黄", "Huang"), ("梁", "Liang"), ("宋", "Song"), ("邓", "Deng"),
    ("董", "Dong"), ("丁", "Ding"), ("程", "Cheng"), ("田", "Tian"), ("胡", "Hu"), ("高", "Gao"), ("林", "Lin"),
    ("徐", "Xu"),
)
VILLAGE_SUFFIXES = (
    ("庄", "zhuang"), ("集", "ji"), ("楼", "lou"), ("营", "ying"), ("湾", "wan"), ("岗", "gang"), ("圩", "wei"),
    ("寨", "zhai"), ("店", "dian"), ("桥", "qiao"), ("庙", "miao"), ("洼", "wa"), ("坡", "po"), ("铺", "pu"),
    ("塘", "tang"), ("沟", "gou"),
)

# --------------------------------------------------------------------------
# Reference values: name_zh of the dbt seeds (checked against the seed files)
# --------------------------------------------------------------------------

TRADES = {  # trade: (class number prefix, provider, hours choices, placement rate)
    "电工": ("DG", "县恒通职业技能培训学校", (120,), 0.22),
    "农艺工": ("NY", "县绿源农业技术培训中心", (64, 80), 0.80),
    "化妆": ("HZ", "县丽华职业技能培训学校", (64,), 0.18),
    "电子商务": ("DS", "县云商电子商务培训中心", (80,), 0.22),
}
TRADE_WEIGHTS = (("电工", 3), ("农艺工", 5), ("化妆", 3), ("电子商务", 2))
WORKING_DAYS_FOR_HOURS = {64: 8, 80: 10, 120: 15}
WAGES = {"电工": (36, 56), "农艺工": (22, 36), "化妆": (28, 45), "电子商务": (28, 48)}  # hundreds of yuan
CROPS = ("蔬菜种植", "果蔬种植", "中药材种植", "食用菌种植", "粮食种植", "苗木花卉", "葡萄种植", "黄桃种植")
SHOPS = ("丽人美容店", "雅妍美妆工作室", "伊人化妆造型店", "靓颜美容店")
COMPANY_WORDS = (("恒泰", "电器"), ("华兴", "机电"), ("宏达", "电子"), ("永盛", "食品"), ("云启", "网络科技"), ("丰润", "农产品销售"))
FLEXIBLE = {"化妆": ("灵活就业（婚庆跟妆）", "灵活就业（上门化妆）"), "电子商务": ("灵活就业（自营网店）",)}

SITES = ("老院区", "新院区")
CARE_DEPARTMENTS = (("内科", 30), ("外科", 20), ("妇产科", 12), ("儿科", 12), ("康复医学科", 14), ("中医科", 12))
STAY_NIGHTS = {"内科": (4, 12), "外科": (3, 12), "妇产科": (2, 6), "儿科": (2, 7), "康复医学科": (8, 15), "中医科": (5, 14)}
ADMISSION_SHARE = (("内科", 36), ("外科", 20), ("妇产科", 11), ("儿科", 11), ("康复医学科", 12), ("中医科", 10))
EXPERTS = {
    "内科": ("心内科", "神经内科", "呼吸内科", "消化内科"), "外科": ("普外科", "骨科"), "妇产科": ("妇产科",),
    "儿科": ("儿科",), "康复医学科": ("康复科", "骨科", "神经内科"), "中医科": ("中医科",),
}
EXAM_TYPES = (("CT", 25), ("心电图", 40), ("B超", 35))
# (share of the exam's readings, lowest, highest turnaround in hours)
TURNAROUND = {
    "心电图": ((85, 0.3, 1.5), (15, 1.5, 6.0)),
    "B超": ((80, 0.5, 4.0), (20, 4.0, 24.0)),
    "CT": ((70, 1.0, 12.0), (25, 12.0, 30.0), (5, 30.0, 48.0)),
}
FUNDING = (("企业捐赠", 60), ("爱心人士", 40))
AID_REASONS = ("恶性肿瘤化疗", "脑梗死住院", "尿毒症透析", "意外伤害住院", "心脏支架手术", "重症肺炎住院", "白血病治疗")

DOMAINS = (("自然资源", 27), ("村镇建设", 32), ("生态环境", 22), ("市场监管", 16))
SQUADS = ("国土中队", "村建农业中队", "环保应急中队")
DOMAIN_SQUAD = {"自然资源": "国土中队", "村镇建设": "村建农业中队", "生态环境": "环保应急中队"}
OUTCOMES = (("罚款", 50), ("责令改正", 25), ("警告", 12), ("不予处罚", 8), ("移送", 5))
REFERRALS = {
    "自然资源": "移送县公安局（涉嫌非法占用农用地罪）", "村镇建设": "移送县住房和城乡建设局",
    "生态环境": "移送县生态环境分局", "市场监管": "移送县市场监督管理局",
}
UNIT_SHARE = {"自然资源": 0.20, "村镇建设": 0.12, "生态环境": 0.55, "市场监管": 0.70}
ASSISTANCE = (("", 65), ("司法所", 14), ("派出所", 13), ("司法所、派出所", 8))
FINES = {"个人": (2, 50), "单位": (10, 500)}  # hundreds of yuan

# The seeds each reference column must come from: (seed file, its column of accepted spellings).
SEED_VALUES = {
    "trade": ("hrss_trades.csv", "name_zh"),
    "employer_type": ("hrss_employer_types.csv", "employer_type_zh"),
    "site": ("health_sites.csv", "name_zh"),
    "care_department": ("health_care_departments.csv", "name_zh"),
    "exam_type": ("health_exam_types.csv", "name_zh"),
    "funding": ("health_aid_funding_sources.csv", "name_zh"),
    "domain": ("enforcement_domains.csv", "name_zh"),
    "squad": ("enforcement_squads.csv", "name_zh"),
    "subject_type": ("enforcement_subject_types.csv", "name_zh"),
}

# --------------------------------------------------------------------------
# Extracts: file stem, format, header (序号 is numbered per file)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    key: str  # short name used in this module
    spec: str  # the ingestion spec (ingestion/specs) its files are for
    department: str
    stem: str  # file name before _<YYYY-MM>; holds the spec's file-pattern keyword
    fmt: str  # "csv" (UTF-8 BOM), "gb18030" or "xlsx"
    header: tuple[str, ...]
    snapshot: bool = False
    sheet: str = ""
    text_columns: tuple[str, ...] = ()  # XLSX: cells formatted as text ("@")
    group_row: tuple[str, ...] = ()  # CSV: a header row above `header` (the county form's merged groups)

    def file_name(self, month: str) -> str:
        return f"{self.stem}_{month}.{'xlsx' if self.fmt == 'xlsx' else 'csv'}"

    def col(self, name: str) -> int:
        """The column's position in the file (序号 included)."""
        return self.header.index(name)

    def at(self, name: str) -> int:
        """The column's position in a generated row (which has no 序号: it is numbered per file)."""
        return self.header.index(name) - (self.header[0] == "序号")


EXTRACTS = (
    Extract("class", "hrss_training_class", "hrss", "全县培训班级台账", "csv",
            ("乡镇", "班级编号", "班级名称", "培训工种", "开班日期", "结业日期", "培训地点", "培训机构", "课时", "计划人数")),
    Extract("roster", "hrss_enrolment", "hrss", "全县培训学员花名册", "gb18030",
            ("序号", "乡镇", "姓名", "性别", "公民身份号码", "联系电话", "所在村(社区)", "班级编号", "报名日期", "是否结业")),
    Extract("certificate", "hrss_certificate", "hrss", "全县技能证书发放名册", "csv",
            ("乡镇", "证书编号", "姓名", "身份证号码", "班级编号", "证书等级", "发证日期")),
    Extract("placement", "hrss_placement", "hrss", "全县就业跟踪台账", "csv",
            ("乡镇", "姓名", "公民身份号码", "培训班级", "就业单位", "单位类型", "就业日期", "就业形式", "月工资（元）")),
    Extract("ward", "health_ward", "health", "全县病房床位登记", "xlsx",
            ("乡镇", "病房编号", "院区", "所属科室", "开放床位", "启用日期", "停用日期", "备注"),
            snapshot=True, sheet="病房床位"),
    Extract("admission", "health_admission", "health", "全县住院病人登记", "csv",
            ("乡镇", "住院号", "患者姓名", "身份证号", "所在村", "入院科室", "入院日期", "出院日期")),
    Extract("round", "health_expert_round", "health", "全县专家查房记录", "csv",
            ("乡镇", "查房编号", "查房日期", "专家所在科室", "专家姓名", "查房科室", "查房患者数")),
    Extract("reading", "health_remote_reading", "health", "全县远程诊断申请", "csv",
            ("乡镇", "申请单号", "患者身份证号", "患者所在村", "检查类型", "申请时间", "报告时间")),
    Extract("aid", "health_medical_aid", "health", "全县临时医疗救助发放表", "csv",
            ("序号", "乡镇", "救助编号", "户主姓名", "户主身份证号", "所在村", "救助日期", "救助金额（元）", "资金来源", "备注"),
            group_row=("序号", "乡镇", "救助编号", "救助对象", "", "所在村", "救助情况", "", "", "备注")),
    Extract("officer", "enf_officer_assignment", "enforcement", "全县执法队员花名册", "xlsx",
            ("序号", "乡镇", "执法证号", "姓名", "性别", "身份证号", "所属中队", "任职起始日期", "任职结束日期", "备注"),
            snapshot=True, sheet="执法队员花名册", text_columns=("身份证号",)),
    Extract("case", "enf_case", "enforcement", "全县案件登记台账", "csv",
            ("序号", "乡镇", "案件编号", "执法领域", "承办中队", "发生地(村)", "立案日期", "结案日期", "处理结果",
             "罚款金额（元）", "协助单位", "当事人类型", "统一社会信用代码", "当事人名称", "当事人身份证号", "备注")),
)
BY_KEY = {e.key: e for e in EXTRACTS}
# The event date that puts a row into its month (sample_data/README.md "Which rows go into which month").
MONTH_COLUMN = {
    "class": "开班日期", "certificate": "发证日期", "placement": "就业日期", "admission": "入院日期",
    "round": "查房日期", "reading": "申请时间", "aid": "救助日期", "case": "立案日期",
}  # the roster goes by its class's 开班日期


# --------------------------------------------------------------------------
# The things generated
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Township:
    code: str  # t02 ..
    number: int  # 2 .. (the bundled township is 1)
    name: str
    name_en: str
    villages: tuple[tuple[str, str], ...]  # (name_zh, name_en)

    @property
    def ttt(self) -> str:
        """The township's 3-digit number in the county (102, 103, ...): part of every ID it issues."""
        return f"{100 + self.number}"

    @property
    def division(self) -> str:
        return COUNTY_DIVISION + self.ttt

    @property
    def village_names(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.villages)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    male: bool
    birth_year: int
    village: str
    phone: str

    @property
    def sex(self) -> str:
        return "男" if self.male else "女"


@dataclass
class TrainingClass:
    id: str
    trade: str
    start: dt.date
    end: dt.date
    venue: str
    row: tuple


@dataclass
class Enrolment:
    person: Person
    cls: TrainingClass
    village: str
    enrolled: dt.date


@dataclass
class Rows:
    """What was generated: event rows by extract, register rows with their validity."""

    # extract -> [(township number, month, row without 序号)]
    events: dict[str, list[tuple[int, str, tuple]]] = field(default_factory=lambda: defaultdict(list))
    # extract -> [(township number, start, end or None, row, row as shown before the end is known)]
    registers: dict[str, list[tuple[int, dt.date, dt.date | None, tuple, tuple]]] = field(
        default_factory=lambda: defaultdict(list))
    # per township and year: the resident IDs of its trainees (for the cross-township share)
    trainees: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    # per township: open beds per day (index: days since the first year's 1 January)
    beds: dict[str, list[int]] = field(default_factory=dict)


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def all_months(first_year: int) -> list[str]:
    return [f"{y:04d}-{m:02d}" for y in range(first_year, LAST_YEAR + 1) for m in range(1, 13)]


def vary(rng: random.Random, n: float) -> int:
    """`n` varied by up to ±25 %."""
    return max(1, round(n * rng.uniform(0.75, 1.25)))


def next_working_day(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def day_in(rng: random.Random, year: int, first: dt.date | None = None, last: dt.date | None = None) -> dt.date:
    first = first or dt.date(year, 1, 1)
    last = last or dt.date(year, 12, 31)
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def working_day_in(rng: random.Random, year: int, first: dt.date | None = None, last: dt.date | None = None) -> dt.date:
    while True:
        day = day_in(rng, year, first, last)
        if day.weekday() < 5:
            return day


# --------------------------------------------------------------------------
# The register
# --------------------------------------------------------------------------


def make_townships(seed: int, count: int) -> list[Township]:
    """Townships t02 .. t<count>, each with 10-25 villages (one 社区, some names shared with other townships)."""
    rng = random.Random(f"{seed}:register")
    bundled = {row["name_zh"] for row in bundled_register()}
    common = {name for name, _ in COMMON_VILLAGES}
    pool = [(p + s + "村", f"{pe}{se} Village") for p, pe in VILLAGE_PREFIXES for s, se in VILLAGE_SUFFIXES]
    pool = [v for v in pool if v[0] not in bundled and v[0] not in common]
    rng.shuffle(pool)
    townships = []
    for number in range(2, count + 1):
        name, name_en = TOWNS[number - 2]
        size = rng.randint(10, 25)
        stem, stem_en = name[:-1], name_en.rsplit(" ", 1)[0]
        villages = [(f"{stem}社区", f"{stem_en} Community")]
        villages += list(COMMON_VILLAGES[:3]) if number in (2, 3) else rng.sample(COMMON_VILLAGES, rng.randint(1, 3))
        while len(villages) < size:
            villages.append(pool.pop())
        rng.shuffle(villages)
        townships.append(Township(f"t{number:02d}", number, name, name_en, tuple(villages)))
    return townships


def check_register(townships: Sequence[Township]) -> None:
    """Township names unique in the county, village names unique within a township and some repeated across them."""
    check = syn.check
    bundled = bundled_register()
    names = [r["name_zh"] for r in bundled if r["area_level"] == "township"] + [t.name for t in townships]
    check(len(set(names)) == len(names), "two townships share a name")
    check(all(t.name.endswith(("镇", "乡")) for t in townships), "a generated township's name ends in neither 镇 nor 乡")
    divisions = [r["division_code"] for r in bundled] + [t.division for t in townships]
    divisions += [f"{t.division}{200 + i}" for t in townships for i in range(1, len(t.villages) + 1)]
    check(len(set(divisions)) == len(divisions), "division codes repeat")
    places: dict[str, set[str]] = defaultdict(set)
    for r in bundled:
        if r["area_level"] == "village":
            places[r["name_zh"]].add(r["parent_area_code"])
    for t in townships:
        check(10 <= len(t.villages) <= 25, f"{t.name} has {len(t.villages)} villages")
        check(len(set(t.village_names)) == len(t.village_names), f"{t.name} has two villages of one name")
        for v in t.village_names:
            places[v].add(t.code)
    repeated = sorted(v for v, where in places.items() if len(where) > 1)
    if len(townships) >= 2:
        check(len(repeated) >= 3, f"only {repeated} recur in several townships")
    if townships:
        check(any("township" in places[v] for v in repeated), "no village name of the bundled township recurs")


def bundled_register() -> list[dict[str, str]]:
    with (HERE / "register" / "areas.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def register_text(townships: Sequence[Township]) -> str:
    """The bundled register's lines verbatim, then each generated township and its villages."""
    lines = (HERE / "register" / "areas.csv").read_text(encoding="utf-8").rstrip("\n").split("\n")
    for t in townships:
        lines.append(f"{t.code},{t.name},{t.name_en},township,county,{t.division}")
        for i, (village, village_en) in enumerate(t.villages, start=1):
            lines.append(f"{t.code}v{i:02d},{village},{village_en},village,{t.code},{t.division}{200 + i}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------

# Ages on 1 July of the last year: (lowest, highest, weight)
AGE_BANDS = ((0, 14, 14), (15, 24, 10), (25, 44, 28), (45, 59, 26), (60, 90, 22))
POOL_SIZE = 5000


class People:
    """A township's residents, and who is old enough for what in a given year."""

    def __init__(self, rng: random.Random, t: Township, used_ids: set[str], used_phones: set[str]) -> None:
        self.people: list[Person] = []
        villages = t.village_names
        bands = [(lo, hi) for lo, hi, _ in AGE_BANDS]
        weights = [w for _, _, w in AGE_BANDS]
        for _ in range(POOL_SIZE):
            male = rng.random() < 0.5
            lo, hi = rng.choices(bands, weights)[0]
            number = syn.resident_id(rng, male, rng.randint(lo, hi), used_ids, year=LAST_YEAR)
            self.people.append(Person(number, syn.name(rng, male), male, int(number[6:10]),
                                      rng.choice(villages), syn.phone(rng, used_phones)))
        self._cache: dict[tuple[int, int, int, str | None], list[Person]] = {}

    def aged(self, year: int, lo: int, hi: int, sex: str | None = None) -> list[Person]:
        """The people aged `lo` to `hi` in `year` (born before it), of one sex if given."""
        key = (year, lo, hi, sex)
        if key not in self._cache:
            self._cache[key] = [p for p in self.people if lo <= year - p.birth_year <= hi and p.birth_year < year
                                and (sex is None or p.sex == sex)]
        return self._cache[key]


# --------------------------------------------------------------------------
# HR & SS
# --------------------------------------------------------------------------


def hrss_classes(rng: random.Random, t: Township, year: int, people: People) -> tuple[list[TrainingClass], list[Enrolment]]:
    """A township's classes of the year and their own residents' enrolments."""
    mondays = [d for d in (dt.date(year, 3, 1) + dt.timedelta(days=i) for i in range(245))
               if d.weekday() == 0 and d.month <= 10]
    classes: list[TrainingClass] = []
    seq: dict[str, int] = defaultdict(int)
    plans = sorted(((rng.choice(mondays), syn.weighted(rng, TRADE_WEIGHTS)) for _ in range(vary(rng, 12))),
                   key=lambda plan: plan[0])
    for start, trade in plans:
        prefix, provider, hours_choices, _ = TRADES[trade]
        seq[trade] += 1
        hours = rng.choice(hours_choices)
        weeks, days = divmod(WORKING_DAYS_FOR_HOURS[hours] - 1, 5)
        end = start + dt.timedelta(days=7 * weeks + days)
        venue = rng.choice(t.village_names)
        planned = rng.choice((40, 45, 50, 60))
        class_id = f"{prefix}-{t.ttt}-{year}-{seq[trade]:02d}"
        row = (t.name, class_id, f"{year}年第{seq[trade]}期{trade}培训班", trade, start, end, venue, provider, hours, planned)
        classes.append(TrainingClass(class_id, trade, start, end, venue, row))
    eligible = people.aged(year, 18, 58)
    by_village: dict[str, list[Person]] = defaultdict(list)
    for p in eligible:
        by_village[p.village].append(p)
    enrolments: list[Enrolment] = []
    busy: dict[str, list[TrainingClass]] = defaultdict(list)  # person -> classes this year
    for cls in classes:
        in_class: set[str] = set()
        earlier = [e.person for e in enrolments]
        for _ in range(round(cls.row[-1] * rng.uniform(0.85, 1.12))):
            for _attempt in range(20):
                if earlier and rng.random() < 0.03:
                    person = rng.choice(earlier)  # a second class the same year
                elif by_village[cls.venue] and rng.random() < 0.4:
                    person = rng.choice(by_village[cls.venue])
                else:
                    person = rng.choice(eligible)
                if person.id not in in_class and not any(overlaps(cls, other) for other in busy[person.id]):
                    break
            else:
                continue
            in_class.add(person.id)
            busy[person.id].append(cls)
            enrolled = next_working_day(cls.start - dt.timedelta(days=rng.randint(2, 10)))
            enrolled = min(enrolled, cls.start)
            enrolments.append(Enrolment(person, cls, person.village, enrolled))
    return classes, enrolments


def overlaps(a: TrainingClass, b: TrainingClass) -> bool:
    return a.start <= b.end and b.start <= a.end


def add_visitors(rng: random.Random, year: int, townships: Sequence[Township],
                 plans: dict[str, tuple[list[TrainingClass], list[Enrolment]]]) -> None:
    """About 1 % of each township's trainees come from another generated township (and 1 % go): ~2 % train in two."""
    home = {t.code: list(dict.fromkeys(e.person for e in plans[t.code][1])) for t in townships}
    busy: dict[str, list[TrainingClass]] = defaultdict(list)
    for t in townships:
        for e in plans[t.code][1]:
            busy[e.person.id].append(e.cls)
    for t in townships:
        others = [u for u in townships if u.code != t.code and home[u.code]]
        classes, enrolments = plans[t.code]
        if not others or not classes:
            continue
        taken = {e.person.id for e in enrolments}
        wanted, attempts = max(1, round(0.01 * len(home[t.code]))), 0
        while wanted and attempts < 100:
            attempts += 1
            u = rng.choice(others)
            person = rng.choice(home[u.code])
            free = [c for c in classes if not any(overlaps(c, b) for b in busy[person.id])]
            if person.id in taken or not free:
                continue
            wanted -= 1
            cls = rng.choice(free)
            taken.add(person.id)
            busy[person.id].append(cls)
            enrolled = min(next_working_day(cls.start - dt.timedelta(days=rng.randint(2, 10))), cls.start)
            # a visitor's row names the class's village: the roster's village must be one of this township's
            enrolments.append(Enrolment(person, cls, cls.venue, enrolled))


def hrss_outcomes(rng: random.Random, t: Township, year: int, classes: list[TrainingClass],
                  enrolments: list[Enrolment], out: Rows) -> None:
    """Write the classes, the roster, and the certificates and placements that follow."""
    last = dt.date(LAST_YEAR, 12, 31)
    order = {c.id: i for i, c in enumerate(classes)}
    enrolments.sort(key=lambda e: (order[e.cls.id], e.enrolled))
    for cls in classes:
        out.events["class"].append((t.number, month_of(cls.start), cls.row))
    companies = [f"{t.name[:-1]}{a}{b}有限公司" for a, b in COMPANY_WORDS]
    batches = {c.id: next_working_day(c.end + dt.timedelta(days=rng.randint(18, 32))) for c in classes}
    certificates = []
    for e in enrolments:
        person, cls = e.person, e.cls
        completed = rng.random() < 0.96
        out.events["roster"].append((t.number, month_of(cls.start), (
            t.name, person.name, person.sex, person.id, person.phone, e.village, cls.id, e.enrolled,
            "是" if completed else "否")))
        out.trainees[(t.code, year)].add(person.id)
        if not completed:
            continue
        if rng.random() < 0.92:
            issued = batches[cls.id]
            if rng.random() < 0.05:  # a make-up assessment
                issued = next_working_day(issued + dt.timedelta(days=14))
            if issued <= last:
                level = ("初级工" if rng.random() < 0.8 else "中级工") if cls.trade in ("电工", "农艺工") else "专项职业能力"
                certificates.append((issued, order[cls.id], person, cls, level))
        if rng.random() < TRADES[cls.trade][3]:
            placed = next_working_day(cls.end + dt.timedelta(days=rng.randint(7, 100)))
            if placed > last:
                continue
            if cls.trade == "农艺工":
                village = e.village if rng.random() < 0.6 else rng.choice(t.village_names)
                employer, kind = f"{village}{rng.choice(CROPS)}专业合作社", "农民专业合作社"
            elif cls.trade == "化妆" and rng.random() < 0.6:
                employer, kind = f"{rng.choice(t.village_names)}{rng.choice(SHOPS)}", "个体工商户"
            elif cls.trade != "电工" and rng.random() < 0.4:
                employer, kind = rng.choice(FLEXIBLE[cls.trade]), "灵活就业"
            else:
                employer, kind = rng.choice(companies), "企业"
            form = "灵活就业" if kind == "灵活就业" else "单位就业"
            lo, hi = WAGES[cls.trade]
            wage = rng.randint(lo, hi) * 100 if form == "单位就业" and rng.random() < 0.9 else None
            out.events["placement"].append((t.number, month_of(placed), (
                t.name, person.name, person.id, cls.id, employer, kind, placed, form, wage)))
    certificates.sort(key=lambda c: (c[0], c[1]))
    for n, (issued, _, person, cls, level) in enumerate(certificates, start=1):
        out.events["certificate"].append((t.number, month_of(issued), (
            t.name, f"S{t.ttt}-{year}-{n:04d}", person.name, person.id, cls.id, level, issued)))


# --------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------


def health(rng: random.Random, t: Township, years: range, people: People, out: Rows) -> None:
    first, last = dt.date(years.start, 1, 1), dt.date(LAST_YEAR, 12, 31)
    span = (last - first).days + 1
    wards_start = dt.date(max(2015, years.start - 5), 1, 1)
    # The ward register: most wards in service before the first year, some opened (on the new site) during it;
    # a quarter change their beds once (old row closed the day before the new one), a few close.
    wards = []
    count = rng.randint(50, 64)
    departments = [syn.weighted(rng, CARE_DEPARTMENTS) for _ in range(count)]
    departments[:6] = [d for d, _ in CARE_DEPARTMENTS]  # every department has beds
    for n, department in enumerate(departments, start=1):
        opened_during = n > 6 and rng.random() < 0.2
        if opened_during:
            start = dt.date(rng.randint(years.start, LAST_YEAR), rng.randint(1, 12), 1)
        else:
            start = dt.date(rng.randint(wards_start.year, max(wards_start.year, years.start - 1)), rng.randint(1, 12), 1)
        site = SITES[1] if opened_during else SITES[0]
        ward_id = f"{'X' if opened_during else 'L'}{t.ttt}-{n:02d}"
        beds = rng.randint(1, 3)
        roll = rng.random()
        if roll < 0.25:
            change = dt.date(rng.randint(max(start.year + 1, years.start), LAST_YEAR + 1), rng.randint(1, 12), 1)
            if change <= last:
                new_beds = max(1, min(4, beds + rng.choice((-1, 1))))
                wards.append((ward_id, site, department, beds, start, change - dt.timedelta(days=1), "", None))
                wards.append((ward_id, site, department, new_beds, change, None,
                              f"{change.year}年{change.month}月起床位由{beds}张调整为{new_beds}张", None))
                continue
        elif roll < 0.31 and n > 6 and start < first:
            end = dt.date(rng.randint(years.start, LAST_YEAR), rng.randint(1, 12), 1) - dt.timedelta(days=1)
            if first <= end:
                wards.append((ward_id, site, department, beds, start, end, f"{end.year}年{end.month}月停用", "end"))
                continue
        wards.append((ward_id, site, department, beds, start, None, "", None))
    wards.sort(key=lambda w: (w[0], w[4]))
    beds_by_department: dict[str, list[int]] = {d: [0] * span for d, _ in CARE_DEPARTMENTS}
    for ward_id, site, department, beds, start, end, note, note_is_end in wards:
        row = (t.name, ward_id, site, department, beds, start, end, note or None)
        before_end = (t.name, ward_id, site, department, beds, start, None, None if note_is_end else note or None)
        out.registers["ward"].append((t.number, start, end, row, before_end))
        lo = max(0, (start - first).days)
        hi = span if end is None else min(span, (end - first).days + 1)
        column = beds_by_department[department]
        for d in range(lo, hi):
            column[d] += beds
    out.beds[t.code] = [sum(column[d] for column in beds_by_department.values()) for d in range(span)]

    occupied = {d: [0] * span for d, _ in CARE_DEPARTMENTS}
    for year in years:
        y0 = (dt.date(year, 1, 1) - first).days
        days_in_year = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
        stays = []
        patients_of: dict[str, list[Person]] = defaultdict(list)
        for _ in range(vary(rng, 1250)):
            for _attempt in range(10):
                department = syn.weighted(rng, ADMISSION_SHARE)
                offset = y0 + rng.randrange(days_in_year)
                nights = rng.randint(*STAY_NIGHTS[department])
                column, beds = occupied[department], beds_by_department[department]
                days = range(offset, min(span, offset + nights))
                if all(column[d] < beds[d] for d in days):
                    break
            else:
                continue  # no free bed: referred elsewhere, not written
            for d in days:
                column[d] += 1
            if patients_of[department] and rng.random() < 0.08:
                person = rng.choice(patients_of[department])  # readmission
            elif department == "儿科":
                person = rng.choice(people.aged(year, 1, 14))
            elif department == "妇产科":
                person = rng.choice(people.aged(year, 20, 45, "女"))
            else:
                person = rng.choice(people.aged(year, 15 if department == "外科" else 35, 95))
            patients_of[department].append(person)
            admitted = first + dt.timedelta(days=offset)
            discharged = admitted + dt.timedelta(days=nights)
            stays.append((admitted, department, person, discharged if discharged <= last else None))
        stays.sort(key=lambda s: s[0])
        for n, (admitted, department, person, discharged) in enumerate(stays, start=1):
            out.events["admission"].append((t.number, month_of(admitted), (
                t.name, f"ZY{t.ttt}{year}{n:05d}", person.name, person.id, person.village, department, admitted,
                discharged)))

        tuesdays = [d for d in (dt.date(year, 1, 1) + dt.timedelta(days=i) for i in range(days_in_year)) if d.weekday() == 1]
        rounds = []
        for _ in range(vary(rng, 69)):
            day = rng.choice(tuesdays)
            staffed = [d for d, _ in CARE_DEPARTMENTS if beds_by_department[d][(day - first).days] > 0]
            department = rng.choice(staffed)
            male = rng.random() < 0.6
            rounds.append((day, rng.choice(EXPERTS[department]), syn.name(rng, male), department, rng.randint(3, 12)))
        rounds.sort(key=lambda r: r[0])
        for n, (day, expert_department, expert, department, seen) in enumerate(rounds, start=1):
            out.events["round"].append((t.number, month_of(day), (
                t.name, f"CF{t.ttt}-{year}-{n:03d}", day, expert_department, expert, department, seen)))

        readings = []
        anyone = people.aged(year, 1, 95)
        for _ in range(vary(rng, 2126)):
            day = day_in(rng, year)
            if day.weekday() >= 5 and rng.random() < 0.5:
                day = day_in(rng, year)  # fewer requests at weekends
            exam = syn.weighted(rng, EXAM_TYPES)
            if exam != "B超" and rng.random() < 0.1:  # an emergency, at any hour
                second = rng.randrange(86400)
            else:
                second = 8 * 3600 + rng.randrange(int(9.5 * 3600))
            requested = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=second)
            bands = TURNAROUND[exam]
            _, lo, hi = rng.choices(bands, [b[0] for b in bands])[0]
            reported = requested + dt.timedelta(seconds=round(rng.uniform(lo, hi) * 3600))
            person = rng.choice(anyone)
            readings.append((requested, person, exam, reported if reported.date() <= last else None))
        readings.sort(key=lambda r: r[0])
        per_day: dict[dt.date, int] = defaultdict(int)
        for requested, person, exam, reported in readings:
            per_day[requested.date()] += 1
            out.events["reading"].append((t.number, month_of(requested.date()), (
                t.name, f"YC{t.ttt}{requested:%Y%m%d}{per_day[requested.date()]:03d}", person.id, person.village, exam,
                requested, reported)))

        heads = people.aged(year, 25, 85)
        payments = []
        target = vary(rng, 60)
        while len(payments) < target:
            person = rng.choice(heads)
            paid = day_in(rng, year, dt.date(year, 2, 1), dt.date(year, 10, 10))
            reason = rng.choice(AID_REASONS)
            payments.append((paid, person, reason, amount(rng)))
            if rng.random() < 0.3 and len(payments) < target:
                again = paid + dt.timedelta(days=rng.randint(45, 150))
                if again <= dt.date(year, 12, 28):
                    payments.append((again, person, f"二次救助：{reason}", amount(rng)))
        payments.sort(key=lambda p: p[0])
        for n, (paid, person, reason, money) in enumerate(payments, start=1):
            out.events["aid"].append((t.number, month_of(paid), (
                t.name, f"LSJZ{t.ttt}-{year}-{n:03d}", person.name, person.id, person.village, paid, money,
                syn.weighted(rng, FUNDING), reason)))


def amount(rng: random.Random) -> float | int:
    """An aid amount, 1,000-20,000 yuan: mostly round 500s, the rest to the fen."""
    if rng.random() < 0.6:
        return rng.randint(2, 40) * 500
    return round(rng.uniform(1000, 20000), 2)


# --------------------------------------------------------------------------
# Enforcement
# --------------------------------------------------------------------------


def org_code(rng: random.Random) -> str:
    """A 9-character GB 11714 organisation code: "MA", six characters, the check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "MA" + "".join(rng.choice(alphabet) for _ in range(6))
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random, entity_type: str, used: set[str]) -> str:
    while True:
        body = "9" + entity_type + USCC_REGION_CODE + org_code(rng)
        code = body + uscc.calc_check_digit(body)
        if code not in used:
            used.add(code)
            return code


def enforcement(rng: random.Random, t: Township, years: range, people: People, used_ids: set[str],
                used_uscc: set[str], out: Rows) -> None:
    last = dt.date(LAST_YEAR, 12, 31)
    # The roster: the brigade formed before the first year; each year some join, some leave, some move squad.
    formed = dt.date(max(2015, years.start - rng.randint(1, 3)), 7, 1)
    officers: list[dict] = []  # {"id", "person", "rows": [[squad, start, end, note, end_note]]}

    def join(day: dt.date, squad: str, note: str = "") -> None:
        male = rng.random() < 0.85
        number = syn.resident_id(rng, male, rng.randint(24, 52), used_ids, year=day.year)
        person = Person(number, syn.name(rng, male), male, int(number[6:10]), "", "")
        officers.append({"id": f"ZF-{t.ttt}-{len(officers) + 1:04d}", "person": person,
                         "rows": [[squad, day, None, note, False]]})

    initial = vary(rng, 32)
    for i in range(initial):
        join(formed, SQUADS[i % 3] if i < 9 else syn.weighted(rng, (("国土中队", 12), ("村建农业中队", 12), ("环保应急中队", 8))))

    def current(officer: dict) -> list | None:
        row = officer["rows"][-1]
        return row if row[2] is None else None

    def staffed(squad: str) -> int:
        return sum(1 for o in officers if current(o) and current(o)[0] == squad)

    for year in years:
        events = ([("join", dt.date(year, rng.randint(1, 12), 1)) for _ in range(rng.randint(0, 2))]
                  + [("leave", day_in(rng, year)) for _ in range(rng.randint(0, 2))]
                  + [("move", dt.date(year, rng.randint(1, 12), 1)) for _ in range(rng.randint(1, 3))])
        events.sort(key=lambda e: (e[1], e[0]))
        for kind, day in events:
            if kind == "join":
                join(day, rng.choice(SQUADS), f"{day.year}年{day.month}月新录用")
                continue
            candidates = [o for o in officers if current(o) and current(o)[1] < day and staffed(current(o)[0]) > 3]
            if not candidates:
                continue
            officer = rng.choice(candidates)
            row = current(officer)
            if kind == "leave":
                row[2], row[3], row[4] = day, f"{day.year}年{day.month}月调离执法大队", True
            else:
                squad = rng.choice([s for s in SQUADS if s != row[0]])
                row[2] = day - dt.timedelta(days=1)
                officer["rows"].append([squad, day, None, f"{day.year}年{day.month}月由{row[0]}调入", False])
    for officer in officers:
        person = officer["person"]
        for squad, start, end, note, end_note in officer["rows"]:
            row = (t.name, officer["id"], person.name, person.sex, person.id, squad, start, end, note or None)
            before_end = (*row[:7], None, None if end_note else note or None)
            out.registers["officer"].append((t.number, start, end, row, before_end))

    # Parties that are units: county companies, village shops and cooperatives (a shop or
    # cooperative is always dealt with in its own village).
    units = []
    for a, b in COMPANY_WORDS:
        units.append((f"{t.name[:-1]}{a}{b}有限公司", make_uscc(rng, "1", used_uscc), None))
    for village in t.village_names:
        if rng.random() < 0.6:
            units.append((f"{village}{rng.choice(('便民超市', '农资店', '五金店', '餐馆'))}", make_uscc(rng, "2", used_uscc), village))
        if rng.random() < 0.5:
            units.append((f"{village}{rng.choice(CROPS)}专业合作社", make_uscc(rng, "3", used_uscc), village))
    zone = {v: SQUADS[i % 3] for i, v in enumerate(t.village_names)}  # market supervision: the squad whose patrol zone
    for year in years:
        parties = people.aged(year, 25, 72)
        cases = []
        for _ in range(vary(rng, 242)):
            domain = syn.weighted(rng, DOMAINS)
            opened = working_day_in(rng, year)
            note = ""
            if rng.random() < UNIT_SHARE[domain]:
                unit_name, code, unit_village = rng.choice(units)
                village = unit_village or rng.choice(t.village_names)
                subject = ("单位", code, unit_name, None)
            else:
                person = rng.choice(parties)
                village = person.village if rng.random() < 0.7 else rng.choice(t.village_names)
                subject = ("个人", None, person.name, person.id)
            if domain == "市场监管":
                squad = zone[village]
            elif domain == "村镇建设" and rng.random() < 0.05:
                squad, note = "国土中队", "占用耕地建房，国土中队承办"
            else:
                squad = DOMAIN_SQUAD[domain]
            closed = next_working_day(opened + dt.timedelta(days=rng.randint(1, 90)))
            if closed > last:
                closed, outcome, fine = None, None, None
            else:
                outcome = syn.weighted(rng, OUTCOMES)
                lo, hi = FINES[subject[0]]
                fine = rng.randint(lo, hi) * 100 if outcome == "罚款" else None
                if outcome == "移送":
                    note = "；".join(filter(None, (note, REFERRALS[domain])))
            assisted = syn.weighted(rng, ASSISTANCE)
            cases.append((opened, domain, squad, village, closed, outcome, fine, assisted, subject, note))
        cases.sort(key=lambda c: c[0])
        for n, (opened, domain, squad, village, closed, outcome, fine, assisted, subject, note) in enumerate(cases, start=1):
            kind, code, party, person_id = subject
            out.events["case"].append((t.number, month_of(opened), (
                t.name, f"综执罚〔{year}〕{t.ttt}-{n:03d}号", domain, squad, village, opened, closed, outcome, fine,
                assisted or None, kind, code, party, person_id, note or None)))


# --------------------------------------------------------------------------
# Generating the rows
# --------------------------------------------------------------------------


def generate_rows(seed: int, townships: Sequence[Township], years: range) -> Rows:
    out = Rows()
    used_ids: set[str] = set()
    used_phones: set[str] = set()
    used_uscc: set[str] = set()
    people = {t.code: People(random.Random(f"{seed}:{t.code}:people"), t, used_ids, used_phones) for t in townships}
    for year in years:
        plans = {t.code: hrss_classes(random.Random(f"{seed}:{t.code}:hrss:{year}"), t, year, people[t.code])
                 for t in townships}
        add_visitors(random.Random(f"{seed}:visitors:{year}"), year, townships, plans)
        for t in townships:
            classes, enrolments = plans[t.code]
            hrss_outcomes(random.Random(f"{seed}:{t.code}:hrss-outcomes:{year}"), t, year, classes, enrolments, out)
    for t in townships:
        health(random.Random(f"{seed}:{t.code}:health"), t, years, people[t.code], out)
        enforcement(random.Random(f"{seed}:{t.code}:enforcement"), t, years, people[t.code], used_ids, used_uscc, out)
    return out


def snapshot(rows: list[tuple[int, dt.date, dt.date | None, tuple, tuple]], month: str) -> list[tuple]:
    """A register at the month's end: rows started by then, an end after then (and its note) shown blank."""
    last = syn.month_end(month)
    return [row if end is None or end <= last else before_end
            for _, start, end, row, before_end in rows if start <= last]


def month_rows(rows: Rows, extract: Extract, month: str, by_month: dict[str, dict[str, list[tuple]]]) -> list[tuple]:
    if extract.snapshot:
        return snapshot(rows.registers[extract.key], month)
    return by_month[extract.key].get(month, [])


def group_events(rows: Rows) -> dict[str, dict[str, list[tuple]]]:
    """Event rows by extract and month, each month's rows ordered by township (then as drawn)."""
    grouped: dict[str, dict[str, list[tuple]]] = {}
    for key, items in rows.events.items():
        months: dict[str, list[tuple[int, int, tuple]]] = defaultdict(list)
        for i, (number, month, row) in enumerate(items):
            months[month].append((number, i, row))
        grouped[key] = {m: [row for _, _, row in sorted(v, key=lambda x: (x[0], x[1]))] for m, v in sorted(months.items())}
    return grouped


# --------------------------------------------------------------------------
# Checks (before anything is written)
# --------------------------------------------------------------------------


def seed_values(key: str) -> set[str]:
    name, column = SEED_VALUES[key]
    with (SEEDS_DIR / name).open(encoding="utf-8", newline="") as f:
        return {row[column] for row in csv.DictReader(f)}


def valid_id(number: str) -> bool:
    """Valid under stdnum.cn.ric: the region codes are syn.REGION_CODES, which accept every birth year (checked)."""
    if len(number) != 18 or not number[:17].isdigit() or number[-1] != ric.calc_check_digit(number):
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return number[:6] in {code for code, _ in syn.REGION_CODES}


def check_rows(rows: Rows, townships: Sequence[Township], years: range) -> None:
    """The consistency the loader and the dbt tests demand, over every row about to be written."""
    check = syn.check
    syn.check_region_codes()
    first, last = dt.date(years.start, 1, 1), dt.date(LAST_YEAR, 12, 31)
    by_name = {t.name: t for t in townships}
    villages = {t.name: set(t.village_names) for t in townships}
    ids_seen: set[str] = set()
    seeds: dict[str, set[str]] = {}
    C, R, CE, P = BY_KEY["class"], BY_KEY["roster"], BY_KEY["certificate"], BY_KEY["placement"]
    W, A, G, M = BY_KEY["ward"], BY_KEY["admission"], BY_KEY["reading"], BY_KEY["aid"]
    O, K = BY_KEY["officer"], BY_KEY["case"]

    stdnum_checked: set[str] = set()

    def person(e: Extract, row: tuple, id_column: str, sex_column: str | None = None) -> None:
        number = row[e.at(id_column)]
        if number not in ids_seen:
            check(valid_id(number), f"{e.key}: resident ID {number} is not valid")
            if number[:10] not in stdnum_checked:  # and stdnum itself, once per region and birth year
                check(ric.is_valid(number), f"{e.key}: stdnum.cn.ric rejects {number}")
                stdnum_checked.add(number[:10])
            ids_seen.add(number)
        if sex_column:
            sex = "男" if int(number[16]) % 2 else "女"
            check(row[e.at(sex_column)] == sex, f"{e.key}: 性别 of {number} disagrees with the ID")

    def village(e: Extract, row: tuple, column: str) -> None:
        value = row[e.at(column)]
        check(value in villages[row[0]], f"{e.key}: {value} is not a village of {row[0]}")

    def reference(e: Extract, row: tuple, column: str, seed: str) -> None:
        if seed not in seeds:
            seeds[seed] = seed_values(seed)
        value = row[e.at(column)]
        check(value in seeds[seed], f"{e.key}: {column} {value!r} is not in the seed {SEED_VALUES[seed][0]}")

    def unique(e: Extract, column: str, start_column: str | None = None) -> None:
        """A natural ID unique in the county (so in its township), and holding the township's number."""
        if e.snapshot:
            items = [row for _, _, _, row, _ in rows.registers[e.key]]
        else:
            items = [row for _, _, row in rows.events[e.key]]
        keys = [(row[e.at(column)], row[e.at(start_column)] if start_column else None) for row in items]
        check(len(set(keys)) == len(keys), f"{e.key}: {column} repeats")
        for row in items:
            check(by_name[row[0]].ttt in row[e.at(column)], f"{e.key}: {row[e.at(column)]} lacks the township number")

    # every date of an event row in the years; each row in the month of its event date
    for key, items in rows.events.items():
        e = BY_KEY[key]
        check(all(row[0] in by_name for _, _, row in items), f"{key}: a township that is not generated")
        if key in MONTH_COLUMN:
            i = e.at(MONTH_COLUMN[key])
            check(all(f"{row[i]:%Y-%m}" == month for _, month, row in items), f"{key}: a row not in its date's month")
        for i, column in enumerate(h for h in e.header if h != "序号"):
            days = [row[i] for _, _, row in items if isinstance(row[i], dt.date)]
            days = [d.date() if isinstance(d, dt.datetime) else d for d in days]
            check(not days or first <= min(days) and max(days) <= last,
                  f"{key}: {column} outside {first} .. {last}")

    # HR & SS
    classes = {}
    for _, _, row in rows.events["class"]:
        classes[(row[0], row[C.at("班级编号")])] = row
        village(C, row, "培训地点")
        reference(C, row, "培训工种", "trade")
        check(row[C.at("开班日期")] <= row[C.at("结业日期")], "class: ends before it starts")
    unique(C, "班级编号")
    enrolled: dict[tuple[str, str, str], bool] = {}
    for _, month, row in rows.events["roster"]:
        cls = classes.get((row[0], row[R.at("班级编号")]))
        check(cls is not None, f"roster: class {row[R.at('班级编号')]} is not in {row[0]}'s ledger")
        check(month == month_of(cls[C.at("开班日期")]), "roster: a row is not in its class's month")
        key = (row[0], row[R.at("班级编号")], row[R.at("公民身份号码")])
        check(key not in enrolled, f"roster: {key} enrolled twice in one class")
        enrolled[key] = row[R.at("是否结业")] == "是"
        person(R, row, "公民身份号码", "性别")
        village(R, row, "所在村(社区)")
        check(row[R.at("报名日期")] <= cls[C.at("开班日期")], "roster: enrolled after the class started")
        age = row[R.at("报名日期")].year - int(row[R.at("公民身份号码")][6:10])
        check(16 <= age <= 75, f"roster: a trainee aged {age}")
    for _, _, row in rows.events["certificate"]:
        key = (row[0], row[CE.at("班级编号")], row[CE.at("身份证号码")])
        check(enrolled.get(key) is True, f"certificate: {key} did not complete that class")
        check(row[CE.at("发证日期")] > classes[key[:2]][C.at("结业日期")], "certificate: issued before the class ended")
        person(CE, row, "身份证号码")
    unique(CE, "证书编号")
    placed = set()
    wages = 0
    for _, _, row in rows.events["placement"]:
        key = (row[0], row[P.at("培训班级")], row[P.at("公民身份号码")])
        check(enrolled.get(key) is True, f"placement: {key} did not complete that class")
        check(key not in placed, f"placement: {key} placed twice after one class")
        placed.add(key)
        check(row[P.at("就业日期")] > classes[key[:2]][C.at("结业日期")], "placement: placed before the class ended")
        reference(P, row, "单位类型", "employer_type")
        wage = row[P.at("月工资（元）")]
        wages += wage is not None
        check(wage is None or 500 <= wage <= 50000, f"placement: wage {wage}")
        person(P, row, "公民身份号码")
    check(wages >= 0.5 * len(placed), "placement: fewer than half the placements report a wage")
    # people who train in two generated townships in one year: about 2 % of each township's trainees
    for year in years:
        sets = [rows.trainees[(t.code, year)] for t in townships]
        if len(sets) < 2:
            continue
        check(len(set().union(*sets)) < sum(len(s) for s in sets), f"hrss {year}: nobody trains in two townships")
        for t, s in zip(townships, sets):
            shared = len(s & set().union(*(o for o in sets if o is not s)))
            check(0 < shared <= 0.06 * len(s), f"hrss {year} {t.name}: {shared} of {len(s)} trainees train elsewhere too")

    # Health
    ranges: dict[tuple[str, str], list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for _, start, end, row, _ in rows.registers["ward"]:
        reference(W, row, "院区", "site")
        reference(W, row, "所属科室", "care_department")
        check(1 <= row[W.at("开放床位")] <= 20, "ward: beds out of 1-20")
        check(start >= dt.date(2015, 1, 1) and (end is None or start <= end <= last), "ward: bad validity")
        ranges[(row[0], row[W.at("病房编号")])].append((start, end or dt.date.max))
    unique(W, "病房编号", "启用日期")
    check_no_overlap("ward", ranges)
    span = (last - first).days + 1
    occupied = {t.name: [0] * span for t in townships}
    for _, _, row in rows.events["admission"]:
        admitted, discharged = row[A.at("入院日期")], row[A.at("出院日期")]
        check(discharged is None or admitted <= discharged, "admission: discharged before admitted")
        person(A, row, "身份证号")
        village(A, row, "所在村")
        reference(A, row, "入院科室", "care_department")
        check(int(row[A.at("身份证号")][6:10]) < admitted.year, "admission: a patient not born yet")
        column = occupied[row[0]]
        for d in range((admitted - first).days, span if discharged is None else (discharged - first).days):
            column[d] += 1
    for t in townships:
        check(all(o <= b for o, b in zip(occupied[t.name], rows.beds[t.code])),
              f"admission: {t.name} has more inpatients than open beds on some day")
    unique(A, "住院号")
    for _, _, row in rows.events["round"]:
        reference(BY_KEY["round"], row, "查房科室", "care_department")
    unique(BY_KEY["round"], "查房编号")
    for _, _, row in rows.events["reading"]:
        requested, reported = row[G.at("申请时间")], row[G.at("报告时间")]
        check(reported is None or requested <= reported <= requested + dt.timedelta(hours=720), "reading: bad turnaround")
        person(G, row, "患者身份证号")
        village(G, row, "患者所在村")
        reference(G, row, "检查类型", "exam_type")
    unique(G, "申请单号")
    for _, _, row in rows.events["aid"]:
        person(M, row, "户主身份证号")
        village(M, row, "所在村")
        reference(M, row, "资金来源", "funding")
        check(1 <= row[M.at("救助金额（元）")] <= 100000, "aid: amount out of range")
    unique(M, "救助编号")

    # Enforcement
    assignments: dict[tuple[str, str], list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for _, start, end, row, _ in rows.registers["officer"]:
        reference(O, row, "所属中队", "squad")
        person(O, row, "身份证号", "性别")
        check(start >= dt.date(2015, 1, 1) and (end is None or start <= end <= last), "officer: bad assignment dates")
        assignments[(row[0], row[O.at("执法证号")])].append((start, end or dt.date.max))
    unique(O, "执法证号", "任职起始日期")
    check_no_overlap("officer", assignments)
    for _, _, row in rows.events["case"]:
        opened, closed = row[K.at("立案日期")], row[K.at("结案日期")]
        check(closed is None or opened <= closed, "case: closed before opened")
        check((closed is None) == (row[K.at("处理结果")] is None), "case: an outcome without a closing date")
        check((row[K.at("罚款金额（元）")] is not None) == (row[K.at("处理结果")] == "罚款"), "case: a fine without 罚款")
        reference(K, row, "执法领域", "domain")
        reference(K, row, "承办中队", "squad")
        reference(K, row, "当事人类型", "subject_type")
        village(K, row, "发生地(村)")
        code, person_id = row[K.at("统一社会信用代码")], row[K.at("当事人身份证号")]
        if row[K.at("当事人类型")] == "单位":
            check(code is not None and uscc.is_valid(code) and person_id is None, "case: a unit without a valid USCC")
        else:
            check(code is None and person_id is not None, "case: a person without an ID, or with a USCC")
            person(K, row, "当事人身份证号")
    unique(K, "案件编号")


def check_no_overlap(what: str, ranges: dict[tuple[str, str], list[tuple[dt.date, dt.date]]]) -> None:
    for key, spans in ranges.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            syn.check(end < start, f"{what}: {key} has overlapping validity ({end} >= {start})")


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_csv(path: Path, extract: Extract, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    numbered = extract.header[0] == "序号"
    if extract.group_row:  # the county form's two-row header: groups above, columns below
        writer.writerow(extract.group_row)
        writer.writerow(["" if h == g else h for h, g in zip(extract.header, extract.group_row)])
    else:
        writer.writerow(extract.header)
    if numbered:
        writer.writerows([n, *map(cell_text, row)] for n, row in enumerate(rows, start=1))
    else:
        writer.writerows(map(cell_text, row) for row in rows)
    text = buffer.getvalue()
    path.write_bytes(text.encode("gb18030") if extract.fmt == "gb18030" else syn.UTF8_BOM + text.encode("utf-8"))


def write_xlsx(path: Path, extract: Extract, rows: list[tuple], month: str) -> None:
    """A register's month-end snapshot: a title row naming the day it stands at, then the header.

    The title is what a register export carries, and it makes each month's
    file its own: a register unchanged for a month is still that month's
    delivery, not a copy the loader takes for one it already has.
    """
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(extract.sheet)
    sheet.append([f"全县{extract.sheet}（截至{syn.month_end_label(month)}，合成样例数据，非真实记录）"])
    sheet.append(list(extract.header))
    numbered = extract.header[0] == "序号"
    text_columns = {extract.col(c) for c in extract.text_columns}
    for n, row in enumerate(rows, start=1):
        values = [n, *row] if numbered else list(row)
        cells: list[object] = []
        for i, value in enumerate(values):
            if isinstance(value, dt.date) or i in text_columns:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "@" if i in text_columns else "yyyy-mm-dd"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    syn.save_workbook(workbook, path, SCRIPT)


def write_folder(root: Path, townships: Sequence[Township], years: range, rows: Rows, seed: int,
                 command: str) -> dict[str, dict[str, dict[str, int]]]:
    """Write register, README and every month's delivery under `root`; return rows per department, extract, month."""
    (root / "register").mkdir(parents=True)
    (root / "register" / "areas.csv").write_bytes(register_text(townships).encode("utf-8"))
    by_month = group_events(rows)
    counts: dict[str, dict[str, dict[str, int]]] = {d: {} for d in DEPARTMENTS}
    for department in DEPARTMENTS:
        extracts = [e for e in EXTRACTS if e.department == department]
        for e in extracts:
            counts[department][e.spec] = {}
        for month in all_months(years.start):
            folder = root / department / month
            folder.mkdir(parents=True)
            names: list[str] = []
            for e in extracts:
                month_items = month_rows(rows, e, month, by_month)
                counts[department][e.spec][month] = len(month_items)
                if not month_items:
                    continue
                name = e.file_name(month)
                if e.fmt == "xlsx":
                    write_xlsx(folder / name, e, month_items, month)
                else:
                    write_csv(folder / name, e, month_items)
                names.append(name)
            if month.startswith(str(LAST_YEAR)):  # the bundled township's own files, unchanged
                for source in bundled_files(department, month):
                    name = f"{BUNDLED_DIVISION}_{source.name}"
                    shutil.copyfile(source, folder / name)
                    names.append(name)
            names.sort()
            note = syn.delivery_note(folder, department, month, names)
            (folder / syn.DELIVERY_MARKER).write_bytes(note.encode("utf-8"))  # last
    (root / "README.md").write_text(readme_text(townships, years, seed, command, counts), encoding="utf-8")
    return counts


def bundled_files(department: str, month: str) -> list[Path]:
    folder = HERE / department / month
    syn.check((folder / syn.DELIVERY_MARKER).is_file(), f"the bundled delivery {folder} is missing or incomplete")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name != syn.DELIVERY_MARKER and p.name != "README.md" and not p.name.startswith("."))


def check_folder(root: Path, townships: Sequence[Township], years: range) -> None:
    """The written deliveries: every month folder with its marker listing its files and their SHA-256,
    the bundled files byte-identical, and no file name that names a township by its name or division code."""
    check = syn.check
    expected = all_months(years.start)
    towns = [t.name for t in townships] + ["**镇"]
    divisions = [t.division for t in townships]
    for department in DEPARTMENTS:
        found = sorted(p.name for p in (root / department).iterdir())
        check(found == expected, f"{department}: month folders are {found[:3]}..., expected {expected[0]} .. {expected[-1]}")
        for month in expected:
            folder = root / department / month
            names = sorted(p.name for p in folder.iterdir() if p.name != syn.DELIVERY_MARKER)
            lines = (folder / syn.DELIVERY_MARKER).read_text(encoding="utf-8").splitlines()
            check(lines[0] == f"synthetic sample delivery: {department} {month}", f"{folder}: marker header")
            listed = [line.rsplit("  ", 1) for line in lines[1:] if "  " in line]
            check([n for n, _ in listed] == names, f"{folder}: marker lists other files than the folder has")
            check(bool(names) or lines[1].startswith("nothing to report"), f"{folder}: empty month's marker")
            for name, digest in listed:
                check(syn.file_sha256(folder / name) == digest, f"{folder / name} differs from its marker hash")
                check(not any(town in name for town in towns), f"{name} names a township")
                if name.startswith(BUNDLED_DIVISION + "_"):
                    source = HERE / department / month / name.removeprefix(BUNDLED_DIVISION + "_")
                    check(month.startswith(str(LAST_YEAR)), f"{name}: the bundled township has no {month}")
                    check((folder / name).read_bytes() == source.read_bytes(), f"{name} is not a copy of {source}")
                else:
                    check(name.startswith("全县") and not any(d in name for d in divisions), f"{name}: not a county file")
            if month.startswith(str(LAST_YEAR)):
                bundled = [f"{BUNDLED_DIVISION}_{p.name}" for p in bundled_files(department, month)]
                check(set(bundled) <= set(names), f"{folder}: bundled files missing")


def readme_text(townships: Sequence[Township], years: range, seed: int, command: str,
                counts: dict[str, dict[str, dict[str, int]]]) -> str:
    year_list = [str(y) for y in years]
    lines = [
        "# A synthetic county landing folder",
        "",
        "> **Everything in this folder is synthetic.** It was generated by `sample_data/generate_county.py`",
        f"> from a fixed random seed ({seed}). No row describes a real person or a real record: names, resident",
        "> ID numbers (random numbers that pass the format check), phone numbers, credit codes, places and dates",
        "> are invented. Do not copy the ID numbers anywhere outside a test's scratch folder.",
        "",
        "Made by (DIR being this folder):",
        "",
        "```sh",
        command,
        "```",
        "",
        f"The county (`register/areas.csv`): the bundled township **镇 (`township`, division {BUNDLED_DIVISION}) and "
        f"{len(townships)} generated townships ({', '.join(f'{t.code} {t.name}' for t in townships[:5])}"
        f"{' ...' if len(townships) > 5 else ''}), years {years.start}–{LAST_YEAR}.",
        "",
        "- `<department>/<YYYY-MM>/`: one delivery per department and month, its `_DELIVERED` marker written last",
        "  (`synthetic sample delivery: <department> <YYYY-MM>`, then `<file>  <sha256>` per file, sorted).",
        "- `全县<extract>_<YYYY-MM>.<ext>`: the month's rows of **all generated townships**, with a `乡镇` column",
        "  (the township's name as in the register). Event extracts: CSV, UTF-8 with BOM, CRLF, header on line 1",
        "  (the trainee roster GB18030; the aid form with the county form's two-row header). The ward register and",
        "  the officer roster: XLSX, the whole register as it stood at the month's end.",
        f"- `{BUNDLED_DIVISION}_<file>` (2023 only): the bundled township's files of `sample_data/`, byte for byte;",
        "  the division code in the name says whose file it is (they have no `乡镇` column).",
        "",
        "Rows of the generated townships' county files per year (event extracts: rows delivered in the year's",
        "months; registers, marked *: rows of the December snapshot). The bundled township's 2023 rows come on top",
        "(see sample_data/README.md).",
        "",
        "| department | extract | " + " | ".join(year_list) + " | total |",
        "| --- | --- |" + " ---: |" * (len(year_list) + 1),
    ]
    for department in DEPARTMENTS:
        for e in (x for x in EXTRACTS if x.department == department):
            per_month = counts[department][e.spec]
            if e.snapshot:
                cells = [str(per_month[f"{y}-12"]) for y in year_list]
                total = cells[-1]
            else:
                sums = [sum(n for m, n in per_month.items() if m.startswith(y)) for y in year_list]
                cells, total = [str(s) for s in sums], str(sum(sums))
            lines.append(f"| {department} | {e.stem}{' *' if e.snapshot else ''} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines) + "\n"


def command_line(townships: int, years: int, seed: int) -> str:
    return f".venv/bin/python -m sample_data.generate_county --townships {townships} --years {years} --out DIR --seed {seed}"


def generate_county(out_dir: Path, townships: int, years: int, seed: int = SEED) -> dict[str, dict[str, dict[str, int]]]:
    """Write the county landing folder into `out_dir` (new or empty).

    `townships` counts the bundled township (so 20 = the bundled one and
    t02 .. t20); `years` ends in 2023. Returns the rows of the generated
    townships' county files: {department: {extract spec name: {YYYY-MM: rows}}}
    (for the two registers, the rows of that month's snapshot).
    """
    out_dir = Path(out_dir)
    if not 1 <= townships <= len(TOWNS) + 1:
        raise syn.SampleDataError(f"townships must be 1 to {len(TOWNS) + 1}, not {townships}")
    if not 1 <= years <= MAX_YEARS:
        raise syn.SampleDataError(f"years must be 1 to {MAX_YEARS}, not {years}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise syn.SampleDataError(f"{out_dir} is not an empty folder: generate into a new one")
    year_range = range(LAST_YEAR - years + 1, LAST_YEAR + 1)
    generated = make_townships(seed, townships)
    check_register(generated)
    rows = generate_rows(seed, generated, year_range)
    check_rows(rows, generated, year_range)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=SCRATCH_PREFIX) as scratch:
        scratch_dir = Path(scratch)
        counts = write_folder(scratch_dir, generated, year_range, rows, seed, command_line(townships, years, seed))
        check_folder(scratch_dir, generated, year_range)
        for path in sorted(scratch_dir.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        for name in ("register", *DEPARTMENTS, "README.md"):
            os.replace(scratch_dir / name, out_dir / name)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--townships", type=int, default=20,
                        help="townships in the county, the bundled one included (default 20)")
    parser.add_argument("--years", type=int, default=5, help=f"years, ending {LAST_YEAR} (default 5)")
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        counts = generate_county(args.out, args.townships, args.years, args.seed)
    except syn.SampleDataError as exc:
        print(f"generate_county: {exc}", file=sys.stderr)
        return 1
    for department, extracts in counts.items():
        for spec, per_month in extracts.items():
            snapshot_spec = spec in (BY_KEY["ward"].spec, BY_KEY["officer"].spec)
            value = f"{per_month[max(per_month)]:,} (last snapshot)" if snapshot_spec else f"{sum(per_month.values()):,}"
            print(f"  {department:<12} {spec:<24} {value}")
    events = sum(sum(m.values()) for d in counts.values() for s, m in d.items()
                 if s not in (BY_KEY["ward"].spec, BY_KEY["officer"].spec))
    print(f"wrote {args.out}: {args.townships} townships x {args.years} years, {events:,} event rows of the generated "
          f"townships plus the bundled township's 2023 files, in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
