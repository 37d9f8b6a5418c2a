{#-
    The area register as a dimension: one row per county, township and
    village, each with the township and county it lies in (a township is its
    own township; the county has none).
-#}
with

areas as (

    select
        area_code,
        name_zh,
        name_en,
        area_level,
        parent_area_code,
        division_code,
        valid_from,
        valid_to
    from {{ ref('stg_register__areas') }}

),

parents as (

    select
        area_code,
        area_level,
        parent_area_code
    from {{ ref('stg_register__areas') }}

)

select
    {{ surrogate_key(['areas.area_code']) }} as area_key,
    areas.area_code,
    areas.name_zh,
    areas.name_en,
    areas.area_level,
    areas.parent_area_code,
    areas.division_code,
    case areas.area_level
        when 'village' then areas.parent_area_code
        when 'township' then areas.area_code
    end as township_code,
    case areas.area_level
        when 'village' then parents.parent_area_code
        when 'township' then areas.parent_area_code
        else areas.area_code
    end as county_code,
    areas.valid_from as area_valid_from,
    areas.valid_to as area_valid_to
from areas
left join parents
    on areas.parent_area_code = parents.area_code
