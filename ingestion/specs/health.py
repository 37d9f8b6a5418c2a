"""Extracts of the county health alliance (县域医共体) about the township health centre.

The ward and bed register (with its history), inpatient admissions, county
experts' ward rounds, remote exam readings and temporary medical aid.
"""

from __future__ import annotations

from ingestion.spec import TOWNSHIP, Column, ColumnType, Department, ExtractSpec

_NOT_LOADED = ("序号", "姓名", "患者姓名", "户主姓名", "联系电话", "备注", "专家姓名", "性别", "年龄")
_VILLAGE = Column("village_name", ("所在村", "现住址(村)", "患者所在村", "所在村(社区)", "住址"), ColumnType.VILLAGE)

WARD = ExtractSpec(
    department="health",
    name="health_ward",
    description="Ward and bed register (病房床位登记): one row per ward per period of validity.",
    file_patterns=("*病房床位*", "*ward*"),
    columns=(
        TOWNSHIP,
        Column("ward_id", ("病房编号", "病房号")),
        Column("site_name", ("院区",)),
        Column("care_department_name", ("所属科室", "科室", "病区")),
        Column("open_bed_count", ("开放床位", "开放床位数", "床位数"), ColumnType.INTEGER),
        Column("valid_from", ("启用日期", "生效日期"), ColumnType.DATE),
        Column("valid_to", ("停用日期", "失效日期"), ColumnType.DATE, nullable=True),
    ),
    key=("township_code", "ward_id", "valid_from"),
    ignored_headers=_NOT_LOADED,
    # The whole register every month, as it stood at the month's end.
    delivery="snapshot",
)

ADMISSION = ExtractSpec(
    department="health",
    name="health_admission",
    description="Inpatient register (住院病人登记): one row per inpatient stay.",
    file_patterns=("*住院*", "*admission*"),
    columns=(
        TOWNSHIP,
        Column("admission_id", ("住院号",)),
        Column("patient_id", ("身份证号", "患者身份证号", "身份证号码"), ColumnType.RESIDENT_ID),
        _VILLAGE,
        Column("care_department_name", ("入院科室", "科室")),
        Column("admitted_date", ("入院日期",), ColumnType.DATE),
        Column("discharged_date", ("出院日期",), ColumnType.DATE, nullable=True),
    ),
    key=("township_code", "admission_id"),
    ignored_headers=_NOT_LOADED,
)

EXPERT_ROUND = ExtractSpec(
    department="health",
    name="health_expert_round",
    description="County experts' ward rounds (县医院专家查房记录): one row per round.",
    file_patterns=("*专家查房*", "*expert_round*"),
    columns=(
        TOWNSHIP,
        Column("round_id", ("查房编号", "记录编号")),
        Column("round_date", ("查房日期",), ColumnType.DATE),
        Column("expert_department_name", ("专家所在科室", "县医院科室")),
        Column("care_department_name", ("查房科室", "科室")),
        Column("patients_seen_count", ("查房患者数", "查看病人数"), ColumnType.INTEGER),
    ),
    key=("township_code", "round_id"),
    ignored_headers=_NOT_LOADED,
)

REMOTE_READING = ExtractSpec(
    department="health",
    name="health_remote_reading",
    description="Remote exam readings (远程诊断申请): one row per exam sent to the county hospital.",
    file_patterns=("*远程诊断*", "*remote_reading*"),
    columns=(
        TOWNSHIP,
        Column("request_id", ("申请单号",)),
        Column("patient_id", ("患者身份证号", "身份证号"), ColumnType.RESIDENT_ID),
        _VILLAGE,
        Column("exam_type_name", ("检查类型", "检查项目")),
        Column("requested_at", ("申请时间",), ColumnType.DATETIME),
        Column("reported_at", ("报告时间", "报告返回时间"), ColumnType.DATETIME, nullable=True),
    ),
    key=("township_code", "request_id"),
    ignored_headers=_NOT_LOADED,
)

MEDICAL_AID = ExtractSpec(
    department="health",
    name="health_medical_aid",
    description="Temporary medical aid payments (临时医疗救助发放表): one row per payment.",
    file_patterns=("*医疗救助*", "*medical_aid*"),
    columns=(
        TOWNSHIP,
        Column("payment_id", ("救助编号", "编号")),
        Column("household_head_id", ("户主身份证号", "救助对象/户主身份证号", "身份证号"), ColumnType.RESIDENT_ID),
        _VILLAGE,
        Column("paid_date", ("救助日期", "救助情况/救助日期", "发放日期"), ColumnType.DATE),
        Column("amount_yuan", ("救助金额(元)", "救助情况/救助金额(元)", "金额(元)"), ColumnType.DECIMAL),
        Column("funding_source_name", ("资金来源", "救助情况/资金来源")),
    ),
    key=("township_code", "payment_id"),
    ignored_headers=_NOT_LOADED,
    # The county's report form: a merged group row over the header proper,
    # and a 合计 (totals) row at the bottom.
    header_rows=2,
)

HEALTH = Department(
    code="health",
    name_zh="县域医共体",
    name_en="County health alliance",
    extracts=(WARD, ADMISSION, EXPERT_ROUND, REMOTE_READING, MEDICAL_AID),
)
