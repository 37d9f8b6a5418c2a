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

        ----------  dates: when a village belongs to its township (ADR 0035); null: always
        cast(nullif(valid_from, '') as date) as valid_from,
        cast(nullif(valid_to, '') as date) as valid_to,

        ----------  lineage
        register_sha256

    from source

)

select * from renamed
