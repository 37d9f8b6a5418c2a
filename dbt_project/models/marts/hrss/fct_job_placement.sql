with

placements as (

    select
        township_code,
        person_id,
        class_id,
        employer_name,
        employer_type_zh,
        employment_form,
        monthly_wage_yuan,
        placed_date,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_hrss__placements') }}

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
    {{ surrogate_key(['placements.township_code', 'placements.person_id', 'placements.class_id']) }} as placement_key,
    {{ surrogate_key(['placements.person_id']) }} as person_key,
    {{ surrogate_key(['placements.township_code', 'placements.class_id']) }} as training_class_key,
    {{ surrogate_key(['placements.township_code']) }} as township_key,
    {{ surrogate_key(['placements.employer_name', 'placements.employer_type_zh']) }} as employer_key,
    -- the person's village is the one on their enrolment in the class the placement follows
    village_areas.area_key,
    -- the enrolment it follows dates it into its cohort (the rates' numerators)
    enrolments.enrolled_date,
    placements.placed_date,
    placements.employment_form,
    placements.monthly_wage_yuan,
    placements.batch_id,
    placements.source_file_id,
    placements.source_row_number
from placements
-- at most one enrolment per (class, person): tested on stg_hrss__enrolments
left join enrolments
    on placements.township_code = enrolments.township_code
    and placements.person_id = enrolments.person_id
    and placements.class_id = enrolments.class_id
left join village_areas
    on enrolments.township_code = village_areas.township_code
    and enrolments.village_name_zh = village_areas.name_zh
