{#-
    Type-2 ward dimension built from the register's own effective dates:
    one row per ward version (a ward gets a new version when its open beds,
    department or site change). Validity ranges are half-open,
    [valid_from, valid_to): the register writes the last day in service
    (停用日期, inclusive), so valid_to is that day + 1, and a version that
    ends the day before the next starts meets it exactly. Gaps and overlaps
    in the register are kept as delivered, never repaired here: the
    non_overlapping_ranges test reports overlaps.
-#}
with

wards as (

    select
        township_code,
        ward_id,
        site_name_zh,
        care_department_name_zh,
        open_bed_count,
        valid_from,
        valid_to_inclusive,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_health__wards') }}

),

sites as (

    select
        site_code,
        name_zh
    from {{ ref('health_sites') }}

),

care_departments as (

    select
        care_department_key,
        name_zh
    from {{ ref('dim_care_department') }}

)

select
    {{ surrogate_key(['wards.township_code', 'wards.ward_id', 'wards.valid_from']) }} as ward_version_key,
    -- the ward, whatever its version: ward numbers are the health centre's own
    {{ surrogate_key(['wards.township_code', 'wards.ward_id']) }} as ward_key,
    wards.ward_id,
    -- the township of the health centre (dim_area.area_key)
    {{ surrogate_key(['wards.township_code']) }} as township_key,
    sites.site_code,
    wards.site_name_zh,
    care_departments.care_department_key,
    wards.open_bed_count,
    wards.valid_from,
    -- exclusive end: the day after the last day in service
    wards.valid_to_inclusive + 1 as valid_to,
    wards.valid_to_inclusive is null as is_current,
    wards.batch_id,
    wards.source_file_id,
    wards.source_row_number
from wards
left join sites
    on wards.site_name_zh = sites.name_zh
left join care_departments
    on wards.care_department_name_zh = care_departments.name_zh
