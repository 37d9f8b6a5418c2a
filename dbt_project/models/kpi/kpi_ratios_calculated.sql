{#-
    Generic ratio calculator: one row per ratio KPI x period grain x period
    x area where its numerator or its denominator measure has a value.

    value = round(multiplier * numerator / denominator, 2), both measures
    taken at the very same (grain, period, area) key, whatever their kind
    (distinct counts, sums, day sums). Two kinds of KPI come out of it:

    - rates in percent (multiplier 100): certificates or placements per
      trainee of a cohort, closed cases per opened case of a cohort, occupied
      per available bed-day;
    - averages (multiplier 1): days in hospital per stay discharged.

    A measure with no value at a key measured nothing there and is reported
    as 0; over a denominator of 0 the value is null (not 0, not infinite).

    Ratios are defined on totals only: a breakdown of the numerator (trade,
    domain) has no denominator of its own here.

    A new ratio KPI is a `ratio` row of the registry (var kpi_measures in
    dbt_project.yml) naming two measures, plus its row in
    seeds/kpi_definitions.csv.
-#}
with

measure_values as (

    select
        measure_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        measure_value
    from {{ ref('kpi_measure_values') }}

),

ratio_definitions as (

    -- the registry's ratio rows (var kpi_measures, macros/kpi_measures.sql)
    select
        kpi_code,
        numerator_measure_code,
        denominator_measure_code,
        multiplier
    from (
        values
        {%- for ratio in kpi_measures(["ratio"]) %}
            ('{{ ratio.measure }}', '{{ ratio.numerator }}', '{{ ratio.denominator }}', {{ ratio.multiplier | int }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as definitions (kpi_code, numerator_measure_code, denominator_measure_code, multiplier)

),

-- one row per ratio and key, the two values side by side; max() only picks
-- the single value a measure has at a key, nothing is added up
ratio_components as (

    select
        ratio_definitions.kpi_code,
        ratio_definitions.multiplier,
        measure_values.period_grain,
        measure_values.period_start_date,
        measure_values.area_level,
        measure_values.area_code,
        measure_values.breakdown_dimension,
        measure_values.breakdown_member,
        max(
            case
                when measure_values.measure_code = ratio_definitions.numerator_measure_code
                    then measure_values.measure_value
            end
        ) as numerator_value,
        max(
            case
                when measure_values.measure_code = ratio_definitions.denominator_measure_code
                    then measure_values.measure_value
            end
        ) as denominator_value
    from ratio_definitions
    inner join measure_values
        on measure_values.measure_code in (
            ratio_definitions.numerator_measure_code,
            ratio_definitions.denominator_measure_code
        )
    where measure_values.breakdown_dimension is null
    group by
        ratio_definitions.kpi_code,
        ratio_definitions.multiplier,
        measure_values.period_grain,
        measure_values.period_start_date,
        measure_values.area_level,
        measure_values.area_code,
        measure_values.breakdown_dimension,
        measure_values.breakdown_member

),

calculated as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        cast(coalesce(numerator_value, 0) as numeric) as numerator,
        cast(coalesce(denominator_value, 0) as numeric) as denominator,
        case
            when coalesce(denominator_value, 0) = 0 then null
            else round(multiplier * coalesce(numerator_value, 0) / denominator_value, 2)
        end as ratio_value
    from ratio_components

)

select * from calculated
