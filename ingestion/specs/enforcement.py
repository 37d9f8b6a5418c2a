"""Extracts of the township's comprehensive administrative enforcement brigade (综合行政执法大队).

The brigade roster, with each officer's squad assignments over time, and the
case register.
"""

from __future__ import annotations

from ingestion.spec import TOWNSHIP, Column, ColumnType, Department, ExtractSpec

_NOT_LOADED = ("序号", "姓名", "当事人姓名", "当事人名称", "联系电话", "备注", "性别")

OFFICER = ExtractSpec(
    department="enforcement",
    name="enf_officer_assignment",
    description="Brigade roster (执法队员花名册): one row per officer per squad assignment.",
    file_patterns=("*执法队员*", "*officer*"),
    columns=(
        TOWNSHIP,
        Column("officer_id", ("执法证号", "执法证件号")),
        Column("person_id", ("身份证号", "公民身份号码"), ColumnType.RESIDENT_ID),
        Column("squad_name", ("所属中队", "中队")),
        Column("assigned_from", ("任职起始日期", "起始日期", "调入日期"), ColumnType.DATE),
        Column("assigned_to", ("任职结束日期", "结束日期", "调出日期"), ColumnType.DATE, nullable=True),
    ),
    key=("township_code", "officer_id", "assigned_from"),
    ignored_headers=_NOT_LOADED,
    # The whole roster every month, as it stood at the month's end.
    delivery="snapshot",
)

CASE = ExtractSpec(
    department="enforcement",
    name="enf_case",
    description="Case register (案件登记台账): one row per case.",
    file_patterns=("*案件登记*", "*case*"),
    columns=(
        TOWNSHIP,
        Column("case_id", ("案件编号", "案号")),
        Column("domain_name", ("执法领域", "领域")),
        Column("squad_name", ("承办中队", "中队")),
        Column("village_name", ("发生地(村)", "所在村", "发生地"), ColumnType.VILLAGE),
        Column("opened_date", ("立案日期",), ColumnType.DATE),
        Column("closed_date", ("结案日期",), ColumnType.DATE, nullable=True),
        Column("outcome_name", ("处理结果", "处罚结果"), nullable=True),
        Column("penalty_yuan", ("罚款金额(元)", "罚款金额"), ColumnType.DECIMAL, nullable=True),
        Column("assisting_agency_names", ("协助单位", "协助部门"), nullable=True),
        Column("subject_type_name", ("当事人类型",)),
        Column("subject_uscc", ("统一社会信用代码", "社会信用代码"), ColumnType.USCC, nullable=True),
        Column("subject_person_id", ("当事人身份证号", "身份证号"), ColumnType.RESIDENT_ID, nullable=True),
    ),
    key=("township_code", "case_id"),
    ignored_headers=_NOT_LOADED,
)

ENFORCEMENT = Department(
    code="enforcement",
    name_zh="综合行政执法大队",
    name_en="Comprehensive administrative enforcement brigade",
    extracts=(OFFICER, CASE),
)
