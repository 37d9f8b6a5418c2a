with

areas as (

    select
        area_code,
        name_zh,
        name_en,
        area_level,
        parent_area_code
    from {{ ref('areas') }}

)

select
    {{ surrogate_key(['area_code']) }} as area_key,
    area_code,
    name_zh,
    name_en,
    area_level,
    parent_area_code
from areas
