with

certificates as (

    select
        township_code,
        certificate_id,
        person_id,
        class_id,
        certificate_level,
        issued_date,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_hrss__certificates') }}

),

enrolments as (

    select
        township_code,
        person_id,
        class_id,
        village_name_zh,
        enrolled_date
    from {{ ref('stg_hrss__enrolments') }}

),

village_areas as (

    select
        area_key,
        township_code,
        name_zh
    from {{ ref('dim_area') }}
    where area_level = 'village'

)

select
    {{ surrogate_key(['certificates.township_code', 'certificates.certificate_id']) }} as certificate_key,
    certificates.certificate_id,
    {{ surrogate_key(['certificates.person_id']) }} as person_key,
    {{ surrogate_key(['certificates.township_code', 'certificates.class_id']) }} as training_class_key,
    {{ surrogate_key(['certificates.township_code']) }} as township_key,
    -- the holder's village is the one on their enrolment in this class
    village_areas.area_key,
    -- the enrolment it follows dates it into its cohort (the rates' numerators)
    enrolments.enrolled_date,
    certificates.issued_date,
    certificates.certificate_level,
    certificates.batch_id,
    certificates.source_file_id,
    certificates.source_row_number
from certificates
-- at most one enrolment per (class, person): tested on stg_hrss__enrolments
left join enrolments
    on certificates.township_code = enrolments.township_code
    and certificates.person_id = enrolments.person_id
    and certificates.class_id = enrolments.class_id
left join village_areas
    on enrolments.township_code = village_areas.township_code
    and enrolments.village_name_zh = village_areas.name_zh
