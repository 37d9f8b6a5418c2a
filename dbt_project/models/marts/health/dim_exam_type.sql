with

health_exam_types as (

    select
        exam_type_code,
        name_zh,
        name_en
    from {{ ref('health_exam_types') }}

)

select
    {{ surrogate_key(['exam_type_code']) }} as exam_type_key,
    exam_type_code,
    name_zh,
    name_en
from health_exam_types
