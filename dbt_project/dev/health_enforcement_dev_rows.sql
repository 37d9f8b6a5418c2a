-- Hand-made health and enforcement rows for developing the dbt project
-- against a local database, in place of the loader. Not used by any test:
-- unit tests bring their own rows. Replaces everything in raw.health_* and
-- raw.enf_* and the audit rows with ids from 101, and leaves the HR & SS
-- rows alone; it refuses to run in a database whose name does not contain
-- "dev". Run it after dev/hrss_dev_rows.sql (which empties audit.*):
--
--   psql -h 127.0.0.1 -U postgres -d govkpi_dbt_dev -v ON_ERROR_STOP=1 -f dev/hrss_dev_rows.sql
--   psql -h 127.0.0.1 -U postgres -d govkpi_dbt_dev -v ON_ERROR_STOP=1 -f dev/health_enforcement_dev_rows.sql
--
-- Expected, 2023, whole township (see README.md):
--   health_open_beds 6 (May 5, June 5, September 6), health_wards 3 (May 2),
--   health_admissions 4, health_bed_occupancy_rate_pct 0.92 (18 / 1947),
--   health_avg_length_of_stay_days 4.75 (19 / 4), health_expert_rounds 3,
--   health_remote_readings 4 (ct 1, ecg 2, ultrasound 1),
--   health_remote_reading_turnaround_hours 2.50, health_medical_aid_yuan
--   10000.50, health_medical_aid_households 2; enf_officers 3, enf_squads 2,
--   enf_domains 4, enf_cases_opened 4, enf_cases_closed 4,
--   enf_case_closure_rate_pct 75.00, enf_median_days_to_close 38.50,
--   enf_penalties_yuan 17800, enf_cases_assisted 2.
-- File 108 is an earlier case register superseded by file 107: its case
-- C6 must not count.

do $$
begin
    if current_database() not like '%dev%' then
        raise exception 'health_enforcement_dev_rows.sql replaces raw and audit data; run it only in a *dev* database, not %', current_database();
    end if;
end
$$;

begin;

truncate raw.health_ward, raw.health_admission, raw.health_expert_round, raw.health_remote_reading,
    raw.health_medical_aid, raw.enf_officer_assignment, raw.enf_case;
delete from audit.quarantine where batch_id >= 101;
update audit.load_manifest set superseded_by_file_id = null where file_id >= 101;
delete from audit.load_manifest where file_id >= 101;
delete from audit.load_batch where batch_id >= 101;

insert into audit.load_batch (batch_id, department, period, started_at, finished_at, status, message)
overriding system value
values
    (101, 'health', '2023', '2024-01-15 09:00+08', '2024-01-15 09:01+08', 'loaded', 'dev rows'),
    (102, 'enforcement', '2023', '2024-01-10 09:00+08', '2024-01-10 09:01+08', 'loaded', 'dev rows: first case register'),
    (103, 'enforcement', '2023', '2024-01-15 09:00+08', '2024-01-15 09:01+08', 'loaded', 'dev rows');

insert into audit.load_manifest (
    file_id, batch_id, department, extract_name, period, file_name, file_path, sha256, size_bytes,
    encoding, received_at, rows_read, rows_loaded, rows_rejected, status, superseded_by_file_id, message
)
overriding system value
values
    (101, 101, 'health', 'health_ward', '2023', '病房床位登记_2023.xlsx', 'health/2023/病房床位登记_2023.xlsx', repeat('a', 64), 8192, null, '2024-01-15 08:00+08', 7, 7, 0, 'loaded', null, null),
    (102, 101, 'health', 'health_admission', '2023', '住院病人登记_2023.csv', 'health/2023/住院病人登记_2023.csv', repeat('b', 64), 4096, 'utf-8', '2024-01-15 08:00+08', 5, 5, 0, 'loaded', null, null),
    (103, 101, 'health', 'health_expert_round', '2023', '专家查房记录_2023.xlsx', 'health/2023/专家查房记录_2023.xlsx', repeat('c', 64), 4096, null, '2024-01-15 08:00+08', 3, 3, 0, 'loaded', null, null),
    (104, 101, 'health', 'health_remote_reading', '2023', '远程诊断申请_2023.csv', 'health/2023/远程诊断申请_2023.csv', repeat('d', 64), 4096, 'gb18030', '2024-01-15 08:00+08', 4, 4, 0, 'loaded', null, null),
    (105, 101, 'health', 'health_medical_aid', '2023', '临时医疗救助发放表_2023.xlsx', 'health/2023/临时医疗救助发放表_2023.xlsx', repeat('e', 64), 4096, null, '2024-01-15 08:00+08', 3, 3, 0, 'loaded', null, null),
    (106, 103, 'enforcement', 'enf_officer_assignment', '2023', '执法队员花名册_2023.xlsx', 'enforcement/2023/执法队员花名册_2023.xlsx', repeat('f', 64), 4096, null, '2024-01-15 08:00+08', 5, 5, 0, 'loaded', null, null),
    (107, 103, 'enforcement', 'enf_case', '2023', '案件登记台账_2023(更正).csv', 'enforcement/2023/案件登记台账_2023(更正).csv', repeat('7', 64), 4096, 'gb18030', '2024-01-15 08:00+08', 5, 5, 0, 'loaded', null, null),
    (108, 102, 'enforcement', 'enf_case', '2023', '案件登记台账_2023.csv', 'enforcement/2023/案件登记台账_2023.csv', repeat('8', 64), 4096, 'gb18030', '2024-01-10 08:00+08', 2, 2, 0, 'loaded', 107, 'superseded by the corrected register');

-- Old site: 2 wards, 5 beds until the move (last day 2023-05-31). New site
-- from 2023-06-01: 3 wards, 5 beds; X-201 goes from 2 to 3 beds on
-- 2023-09-01. Dates as the register writes them: 停用日期 is the last day.
insert into raw.health_ward (
    ward_id, site_name, care_department_name, open_bed_count, valid_from, valid_to,
    _batch_id, _file_id, _row_number
)
values
    ('L-01', '老院区', '内科', 2, '2015-07-01', '2023-05-31', 101, 101, 3),
    ('L-02', '老院区', '外科', 2, '2015-07-01', '2018-02-28', 101, 101, 4),
    ('L-02', '老院区', '外科', 3, '2018-03-01', '2023-05-31', 101, 101, 5),
    ('X-201', '新院区', '内科', 2, '2023-06-01', '2023-08-31', 101, 101, 6),
    ('X-201', '新院区', '内科', 3, '2023-09-01', null, 101, 101, 7),
    ('X-501', '新院区', '康复医学科', 2, '2023-06-01', null, 101, 101, 8),
    ('X-502', '新院区', '中医科', 1, '2023-06-01', null, 101, 101, 9);

-- person ids stand in for the loader's keyed pseudonym; p1 is also an
-- HR & SS trainee (same sex and birth year) and a party to case C2
insert into raw.health_admission (
    admission_id, patient_id, patient_birth_year, patient_sex, village_name, care_department_name,
    admitted_date, discharged_date, _batch_id, _file_id, _row_number
)
values
    -- carried over from 2022: only its 2023 nights are bed-days of the delivered year
    ('ZY202201181', encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', '内科', '2022-12-28', '2023-01-03', 101, 102, 2),
    -- spans a month end: 2 bed-days in March, 1 in April; its stay counts in April
    ('ZY202300001', encode(sha256('p2'), 'hex'), 1990, 'male', '漫流村', '外科', '2023-03-30', '2023-04-02', 101, 102, 3),
    ('ZY202300002', encode(sha256('p3'), 'hex'), 1978, 'female', '杏花村', '康复医学科', '2023-06-10', '2023-06-20', 101, 102, 4),
    ('ZY202300003', encode(sha256('p4'), 'hex'), 1996, 'female', '南营村', '中医科', '2023-07-01', '2023-07-01', 101, 102, 5),
    -- still in hospital: occupies a bed to the end of the delivered year
    ('ZY202300004', encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', '内科', '2023-12-29', null, 101, 102, 6);

insert into raw.health_expert_round (
    round_id, round_date, expert_department_name, care_department_name, patients_seen_count,
    _batch_id, _file_id, _row_number
)
values
    ('CF2023-001', '2023-06-06', '心内科', '内科', 4, 101, 103, 3),
    ('CF2023-002', '2023-06-13', '康复科', '康复医学科', 3, 101, 103, 4),
    ('CF2023-003', '2023-07-04', '中医科', '中医科', 5, 101, 103, 5);

insert into raw.health_remote_reading (
    request_id, patient_id, patient_birth_year, patient_sex, village_name, exam_type_name,
    requested_at, reported_at, _batch_id, _file_id, _row_number
)
values
    -- requested late on 30 June local time: counts in June
    ('YC20230630001', encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', 'CT', '2023-06-30 23:30+08', '2023-07-01 02:00+08', 101, 104, 3),
    ('YC20230301001', encode(sha256('p5'), 'hex'), 1999, 'female', '漫流村', '心电图', '2023-03-01 09:00+08', '2023-03-01 10:00+08', 101, 104, 4),
    ('YC20230302001', encode(sha256('p5'), 'hex'), 1999, 'female', '漫流村', 'B超', '2023-03-02 09:00+08', '2023-03-02 13:30+08', 101, 104, 5),
    -- not reported yet: counted as a reading, not in the turnaround
    ('YC20231231001', encode(sha256('p2'), 'hex'), 1990, 'male', '漫流村', '心电图', '2023-12-31 22:00+08', null, 101, 104, 6);

insert into raw.health_medical_aid (
    payment_id, household_head_id, household_head_birth_year, household_head_sex, village_name,
    paid_date, amount_yuan, funding_source_name, _batch_id, _file_id, _row_number
)
values
    ('LSJZ2023-001', encode(sha256('p10'), 'hex'), 1960, 'male', '南营村', '2023-04-10', 5000, '企业捐赠', 101, 105, 4),
    ('LSJZ2023-002', encode(sha256('p10'), 'hex'), 1960, 'male', '南营村', '2023-09-15', 3000.50, '爱心人士', 101, 105, 5),
    ('LSJZ2023-003', encode(sha256('p11'), 'hex'), 1958, 'female', '杏花村', '2023-09-20', 2000, '企业捐赠', 101, 105, 6);

-- E2 moves squad on 2023-03-01 (the roster ends the old row the day
-- before); E3 leaves after 2023-07-14; E4 joins on 2023-07-17.
insert into raw.enf_officer_assignment (
    officer_id, person_id, person_birth_year, person_sex, squad_name, assigned_from, assigned_to,
    _batch_id, _file_id, _row_number
)
values
    ('ZF-001', encode(sha256('e1'), 'hex'), 1980, 'male', '国土中队', '2021-07-01', null, 103, 106, 3),
    ('ZF-002', encode(sha256('e2'), 'hex'), 1986, 'male', '村建农业中队', '2021-07-01', '2023-02-28', 103, 106, 4),
    ('ZF-002', encode(sha256('e2'), 'hex'), 1986, 'male', '国土中队', '2023-03-01', null, 103, 106, 5),
    ('ZF-003', encode(sha256('e3'), 'hex'), 1975, 'female', '环保应急中队', '2021-07-01', '2023-07-14', 103, 106, 6),
    ('ZF-004', encode(sha256('e4'), 'hex'), 1995, 'male', '环保应急中队', '2023-07-17', null, 103, 106, 7);

insert into raw.enf_case (
    case_id, domain_name, squad_name, village_name, opened_date, closed_date, outcome_name, penalty_yuan,
    assisting_agency_names, subject_type_name, subject_uscc, subject_person_id, subject_person_birth_year,
    subject_person_sex, _batch_id, _file_id, _row_number
)
values
    -- opened in 2022, closed in 2023: closed, fined and timed in 2023, opened in 2022
    ('综执罚〔2022〕171号', '自然资源', '国土中队', '杏花村', '2022-11-20', '2023-01-10', '罚款', 5000, null, '个人', null, encode(sha256('p12'), 'hex'), 1970, 'male', 103, 107, 3),
    ('综执罚〔2023〕001号', '自然资源', '国土中队', '杏花村', '2023-03-06', '2023-04-22', '罚款', 12000, '司法所、派出所', '个人', null, encode(sha256('p1'), 'hex'), 1985, 'male', 103, 107, 4),
    ('综执罚〔2023〕002号', '村镇建设', '村建农业中队', '南营村', '2023-04-03', '2023-05-03', '责令改正', null, '派出所', '单位', '91340121MA2TEST001', null, null, null, 103, 107, 5),
    -- still open at the end of the year
    ('综执罚〔2023〕003号', '生态环境', '环保应急中队', '河下村', '2023-12-20', null, null, null, null, '单位', '91340121MA2TEST002', null, null, null, 103, 107, 6),
    ('综执罚〔2023〕004号', '市场监管', '村建农业中队', '南营村', '2023-06-01', '2023-06-11', '罚款', 800, null, '个人', null, encode(sha256('p13'), 'hex'), 1975, 'male', 103, 107, 7),
    -- the superseded register: must not count
    ('综执罚〔2022〕171号', '自然资源', '国土中队', '杏花村', '2022-11-20', null, null, null, null, '个人', null, encode(sha256('p12'), 'hex'), 1970, 'male', 102, 108, 3),
    ('综执罚〔2023〕999号', '市场监管', '国土中队', '杏花村', '2023-01-05', '2023-01-06', '警告', null, null, '个人', null, encode(sha256('p12'), 'hex'), 1970, 'male', 102, 108, 4);

-- the ids above were set by hand: move the identities past them
select setval(pg_get_serial_sequence('audit.load_batch', 'batch_id'), (select max(batch_id) from audit.load_batch));
select setval(pg_get_serial_sequence('audit.load_manifest', 'file_id'), (select max(file_id) from audit.load_manifest));

commit;
