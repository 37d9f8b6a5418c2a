with

health_care_departments as (

    select
        care_department_code,
        name_zh,
        name_en
    from {{ ref('health_care_departments') }}

)

select
    {{ surrogate_key(['care_department_code']) }} as care_department_key,
    care_department_code,
    name_zh,
    name_en
from health_care_departments
