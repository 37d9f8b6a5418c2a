with

training_classes as (

    select
        township_code,
        class_id,
        class_name,
        trade_name_zh,
        venue_name_zh,
        provider_name,
        training_hours,
        planned_trainee_count,
        start_date,
        end_date,
        source_file_id,
        source_row_number
    from {{ ref('stg_hrss__training_classes') }}

),

trades as (

    select
        trade_code,
        name_zh,
        name_en
    from {{ ref('hrss_trades') }}

),

-- Classes are held in a village; a venue that is not one of the villages
-- gets no venue_area_key, and the not_null test on it says so.
village_areas as (

    select
        area_key,
        township_code,
        name_zh
    from {{ ref('dim_area') }}
    where area_level = 'village'

)

select
    {{ surrogate_key(['training_classes.township_code', 'training_classes.class_id']) }} as training_class_key,
    -- the township of the class (dim_area.area_key)
    {{ surrogate_key(['training_classes.township_code']) }} as township_key,
    training_classes.class_id,
    training_classes.class_name,
    trades.trade_code,
    training_classes.trade_name_zh,
    trades.name_en as trade_name_en,
    training_classes.start_date,
    training_classes.end_date,
    village_areas.area_key as venue_area_key,
    training_classes.provider_name,
    training_classes.training_hours,
    training_classes.planned_trainee_count,
    training_classes.source_file_id,
    training_classes.source_row_number
from training_classes
left join trades
    on training_classes.trade_name_zh = trades.name_zh
left join village_areas
    on training_classes.township_code = village_areas.township_code
    and training_classes.venue_name_zh = village_areas.name_zh
