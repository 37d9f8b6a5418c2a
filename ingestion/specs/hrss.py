"""Extracts of the county human resources and social security bureau (人社).

Skills training run with the township: the class ledger, the trainee
roster, the certificate register and the job follow-up ledger.
"""

from __future__ import annotations

from ingestion.spec import TOWNSHIP, Column, ColumnType, Department, ExtractSpec

_PERSON = Column(
    "person_id",
    ("公民身份号码", "身份证号", "身份证号码", "身份证件号码"),
    ColumnType.RESIDENT_ID,
    description="Resident ID; stored only as a keyed pseudonym, birth year and sex.",
)
_CLASS_ID = Column("class_id", ("班级编号", "培训班级", "班次编号"), description="Training class number.")
_NOT_LOADED = ("序号", "姓名", "联系电话", "手机号码", "性别")

TRAINING_CLASS = ExtractSpec(
    department="hrss",
    name="hrss_training_class",
    description="Training class ledger (培训班级台账): one row per class.",
    file_patterns=("*班级台账*", "*training_class*"),
    columns=(
        TOWNSHIP,
        Column("class_id", ("班级编号", "班次编号")),
        Column("class_name", ("班级名称", "培训班名称")),
        Column("trade_name", ("培训工种", "工种", "职业（工种）")),
        Column("start_date", ("开班日期", "开始日期"), ColumnType.DATE),
        Column("end_date", ("结业日期", "结束日期"), ColumnType.DATE),
        Column("venue_name", ("培训地点",)),
        Column("provider_name", ("培训机构",), nullable=True),
        Column("training_hours", ("课时", "培训课时"), ColumnType.INTEGER),
        Column("planned_trainee_count", ("计划人数",), ColumnType.INTEGER, required=False, nullable=True),
    ),
    key=("township_code", "class_id"),
    ignored_headers=("序号",),
)

ENROLMENT = ExtractSpec(
    department="hrss",
    name="hrss_enrolment",
    description="Trainee roster (培训学员花名册): one row per trainee per class.",
    file_patterns=("*学员花名册*", "*enrolment*"),
    columns=(
        TOWNSHIP,
        _PERSON,
        Column("village_name", ("所在村(社区)", "所在村（社区）", "所在村", "村(社区)"), ColumnType.VILLAGE),
        _CLASS_ID,
        Column("enrolled_date", ("报名日期",), ColumnType.DATE, past_only=True),
        Column("has_completed", ("是否结业",), ColumnType.BOOLEAN),
    ),
    key=("township_code", "class_id", "person_id"),
    ignored_headers=_NOT_LOADED,
)

CERTIFICATE = ExtractSpec(
    department="hrss",
    name="hrss_certificate",
    description="Skill certificate register (技能证书发放名册): one row per certificate.",
    file_patterns=("*证书发放*", "*certificate*"),
    columns=(
        TOWNSHIP,
        Column("certificate_id", ("证书编号",)),
        _PERSON,
        _CLASS_ID,
        Column("certificate_level", ("证书等级", "等级"), nullable=True),
        Column("issued_date", ("发证日期", "发放日期"), ColumnType.DATE, past_only=True),
    ),
    key=("township_code", "certificate_id"),
    ignored_headers=_NOT_LOADED,
)

PLACEMENT = ExtractSpec(
    department="hrss",
    name="hrss_placement",
    description="Job follow-up ledger (就业跟踪台账): one row per trainee placed in a job.",
    file_patterns=("*就业跟踪*", "*placement*"),
    columns=(
        TOWNSHIP,
        _PERSON,
        _CLASS_ID,
        Column("employer_name", ("就业单位", "用人单位")),
        Column("employer_type", ("单位类型",)),
        Column("placed_date", ("就业日期", "上岗日期"), ColumnType.DATE, past_only=True),
        Column("employment_form", ("就业形式",), nullable=True, required=False),
        Column(
            "monthly_wage_yuan",
            ("月工资（元）", "月工资(元)", "月工资"),
            ColumnType.DECIMAL,
            nullable=True,
            required=False,
        ),
    ),
    key=("township_code", "person_id", "class_id"),
    ignored_headers=_NOT_LOADED,
)

HRSS = Department(
    code="hrss",
    name_zh="县人力资源和社会保障局",
    name_en="County Human Resources and Social Security Bureau",
    extracts=(TRAINING_CLASS, ENROLMENT, CERTIFICATE, PLACEMENT),
)
