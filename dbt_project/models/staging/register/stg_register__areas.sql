with

source as (

    select * from {{ source('register', 'area_register') }}

),

renamed as (

    select
        ----------  ids
        area_code,
        parent_area_code,
        division_code,

        ----------  strings
        name_zh,
        name_en,
        area_level,

        ----------  lineage
        register_sha256

    from source

)

select * from renamed
