with

kpi_definitions as (

    select
        kpi_code,
        name_zh,
        name_en,
        department,
        unit,
        definition,
        direction
    from {{ ref('kpi_definitions') }}

)

select
    kpi_code,
    name_zh,
    name_en,
    department,
    unit,
    definition,
    direction
from kpi_definitions
