-- Hand-made HR & SS rows for developing the dbt project against a local
-- database, in place of the loader. Not used by any test: unit tests bring
-- their own rows. Replaces everything in raw.hrss_* and audit.*, so it
-- refuses to run in a database whose name does not contain "dev".
--
--   psql -h 127.0.0.1 -U postgres -d govkpi_dbt_dev -v ON_ERROR_STOP=1 -f dev/hrss_dev_rows.sql
--
-- Expected 2023, whole township (see README.md): classes 5, trainees 7,
-- certificates 6, certificate rate 85.71, placed 6 (electrician 2,
-- agronomy 3, cosmetics 1, ecommerce 1), placement rate 85.71.
-- File 2 is an earlier roster superseded by file 5: its rows (p9, and p1's
-- older enrolment date) must not count.

do $$
begin
    if current_database() not like '%dev%' then
        raise exception 'hrss_dev_rows.sql replaces raw and audit data; run it only in a *dev* database, not %', current_database();
    end if;
end
$$;

begin;

truncate raw.hrss_training_class, raw.hrss_enrolment, raw.hrss_certificate, raw.hrss_placement;
truncate audit.quarantine, audit.load_manifest, audit.load_batch restart identity cascade;

insert into audit.load_batch (batch_id, department, period, started_at, finished_at, status, message)
overriding system value
values
    (1, 'hrss', '2023', '2024-01-15 09:00+08', '2024-01-15 09:01+08', 'loaded', 'dev rows'),
    (2, 'hrss', '2023', '2024-03-10 09:00+08', '2024-03-10 09:01+08', 'loaded', 'dev rows: corrected roster');

insert into audit.load_manifest (
    file_id, batch_id, department, extract_name, period, file_name, file_path, sha256, size_bytes,
    encoding, received_at, rows_read, rows_loaded, rows_rejected, status, superseded_by_file_id, message
)
overriding system value
values
    (1, 1, 'hrss', 'hrss_training_class', '2023', '2023年培训班级台账.xlsx', 'hrss/2023/2023年培训班级台账.xlsx', repeat('1', 64), 10240, null, '2024-01-15 08:00+08', 6, 6, 0, 'loaded', null, null),
    (5, 2, 'hrss', 'hrss_enrolment', '2023', '2023年培训学员花名册(更正).xlsx', 'hrss/2023/2023年培训学员花名册(更正).xlsx', repeat('5', 64), 20480, null, '2024-03-10 08:00+08', 10, 10, 0, 'loaded', null, null),
    (2, 1, 'hrss', 'hrss_enrolment', '2023', '2023年培训学员花名册.xlsx', 'hrss/2023/2023年培训学员花名册.xlsx', repeat('2', 64), 20480, null, '2024-01-15 08:00+08', 2, 2, 0, 'loaded', 5, 'superseded by the corrected roster'),
    (3, 1, 'hrss', 'hrss_certificate', '2023', '2023年技能证书发放名册.xlsx', 'hrss/2023/2023年技能证书发放名册.xlsx', repeat('3', 64), 8192, null, '2024-01-15 08:00+08', 6, 6, 0, 'loaded', null, null),
    (4, 1, 'hrss', 'hrss_placement', '2023', '2023年就业跟踪台账.xlsx', 'hrss/2023/2023年就业跟踪台账.xlsx', repeat('4', 64), 8192, null, '2024-01-15 08:00+08', 7, 7, 0, 'loaded', null, null),
    (6, 2, 'hrss', 'hrss_certificate', '2023', '证书发放(错误导出).xlsx', 'hrss/2023/证书发放(错误导出).xlsx', repeat('6', 64), 4096, null, '2024-03-10 08:00+08', 5, 0, 5, 'refused', null, 'more than 20% of rows rejected');

insert into raw.hrss_training_class (
    class_id, class_name, trade_name, start_date, end_date, venue_name, provider_name,
    training_hours, planned_trainee_count, _batch_id, _file_id, _row_number
)
values
    ('C2023-01', '2023年第1期电工培训班', '电工', '2023-03-06', '2023-03-24', '杏花村', '县职业技能培训中心', 120, 30, 1, 1, 3),
    ('C2023-02', '2023年第1期农艺工培训班', '农艺工', '2023-04-10', '2023-04-28', '漫流村', '县农业广播电视学校', 80, 50, 1, 1, 4),
    ('C2023-03', '2023年第1期化妆培训班', '化妆', '2023-05-15', '2023-06-02', '后庄社区', '县职业技能培训中心', 100, 40, 1, 1, 5),
    ('C2023-04', '2023年第1期电子商务培训班', '电子商务', '2023-06-12', '2023-06-30', '南营村', '县电子商务公共服务中心', 90, 40, 1, 1, 6),
    ('C2023-05', '2023年第2期农艺工培训班', '农艺工', '2023-10-09', '2023-10-27', '马窑村', '县农业广播电视学校', 80, null, 1, 1, 7),
    ('C2024-01', '2024年第1期电工培训班', '电工', '2024-03-04', '2024-03-22', '河下村', null, 120, 30, 1, 1, 8);

-- person_id stands in for the loader's keyed pseudonym (64 hex characters)
insert into raw.hrss_enrolment (
    person_id, person_birth_year, person_sex, village_name, class_id, enrolled_date, has_completed,
    _batch_id, _file_id, _row_number
)
values
    (encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', 'C2023-01', '2023-02-27', true, 2, 5, 2),
    (encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', 'C2023-02', '2023-03-28', true, 2, 5, 3),
    (encode(sha256('p2'), 'hex'), 1990, 'male', '杏花村', 'C2023-01', '2023-03-01', true, 2, 5, 4),
    (encode(sha256('p3'), 'hex'), 1978, 'female', '漫流村', 'C2023-02', '2023-04-03', true, 2, 5, 5),
    (encode(sha256('p3'), 'hex'), 1978, 'female', '马窑村', 'C2023-05', '2023-09-25', true, 2, 5, 6),
    (encode(sha256('p4'), 'hex'), 1996, 'female', '后庄社区', 'C2023-03', '2023-05-08', true, 2, 5, 7),
    (encode(sha256('p5'), 'hex'), 1999, 'female', '南营村', 'C2023-04', '2023-06-05', true, 2, 5, 8),
    (encode(sha256('p6'), 'hex'), 2001, 'male', '南营村', 'C2023-04', '2023-06-06', false, 2, 5, 9),
    (encode(sha256('p7'), 'hex'), 1982, 'male', '马窑村', 'C2023-05', '2023-09-28', true, 2, 5, 10),
    (encode(sha256('p8'), 'hex'), 1988, 'male', '河下村', 'C2024-01', '2024-02-26', false, 2, 5, 11),
    -- the superseded roster: must not count
    (encode(sha256('p1'), 'hex'), 1985, 'male', '杏花村', 'C2023-01', '2023-01-20', true, 1, 2, 2),
    (encode(sha256('p9'), 'hex'), 1975, 'male', '杏花村', 'C2023-01', '2023-01-20', false, 1, 2, 3);

insert into raw.hrss_certificate (
    certificate_id, person_id, person_birth_year, person_sex, class_id, certificate_level, issued_date,
    _batch_id, _file_id, _row_number
)
values
    ('Z2023-0001', encode(sha256('p1'), 'hex'), 1985, 'male', 'C2023-01', '初级', '2023-03-28', 1, 3, 2),
    ('Z2023-0002', encode(sha256('p2'), 'hex'), 1990, 'male', 'C2023-01', '初级', '2023-03-28', 1, 3, 3),
    ('Z2023-0003', encode(sha256('p3'), 'hex'), 1978, 'female', 'C2023-02', '初级', '2023-05-10', 1, 3, 4),
    ('Z2023-0004', encode(sha256('p4'), 'hex'), 1996, 'female', 'C2023-03', null, '2023-06-02', 1, 3, 5),
    ('Z2023-0005', encode(sha256('p5'), 'hex'), 1999, 'female', 'C2023-04', '初级', '2023-07-05', 1, 3, 6),
    ('Z2023-0006', encode(sha256('p3'), 'hex'), 1978, 'female', 'C2023-05', '中级', '2023-11-20', 1, 3, 7);

insert into raw.hrss_placement (
    person_id, person_birth_year, person_sex, class_id, employer_name, employer_type, placed_date,
    employment_form, monthly_wage_yuan, _batch_id, _file_id, _row_number
)
values
    (encode(sha256('p1'), 'hex'), 1985, 'male', 'C2023-01', '九创工业园', '企业', '2023-04-10', '全职', 3800, 1, 4, 2),
    (encode(sha256('p1'), 'hex'), 1985, 'male', 'C2023-02', '漫流村种植专业合作社', '农民专业合作社', '2023-06-01', '季节性', 2600, 1, 4, 3),
    (encode(sha256('p2'), 'hex'), 1990, 'male', 'C2023-01', '启航必达科技有限公司', '企业', '2023-04-20', '全职', 4200, 1, 4, 4),
    (encode(sha256('p3'), 'hex'), 1978, 'female', 'C2023-02', '漫流村种植专业合作社', '农民专业合作社', '2023-06-15', '全职', 2800, 1, 4, 5),
    (encode(sha256('p4'), 'hex'), 1996, 'female', 'C2023-03', '丽人美妆工作室', '个体工商户', '2023-07-01', '全职', null, 1, 4, 6),
    (encode(sha256('p5'), 'hex'), 1999, 'female', 'C2023-04', '网店自营', '灵活就业', '2023-08-01', '灵活就业', null, 1, 4, 7),
    (encode(sha256('p7'), 'hex'), 1982, 'male', 'C2023-05', '马窑村果蔬专业合作社', '农民专业合作社', '2023-12-01', '全职', 3000, 1, 4, 8);

-- the ids above were set by hand: move the identities past them
select setval(pg_get_serial_sequence('audit.load_batch', 'batch_id'), (select max(batch_id) from audit.load_batch));
select setval(pg_get_serial_sequence('audit.load_manifest', 'file_id'), (select max(file_id) from audit.load_manifest));

commit;
