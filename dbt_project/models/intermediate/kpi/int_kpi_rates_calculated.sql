{#-
    Generic rate calculator: one row per rate KPI x period grain x period x
    area where its numerator or its denominator measure has a count.

    value = round(100.0 * numerator / denominator, 2), both taken at the very
    same (grain, period, area) key. A measure with no count there counted
    nothing, so it is reported as 0; with a denominator of 0 the rate is
    null (not 0, not infinite).

    Numerators are dated by enrolment (see int_kpi_measure_events_unioned),
    so a rate compares a cohort of trainees with what became of it.

    Rates are defined on totals only: the denominators (trainees) have no
    breakdown, so "placements by trade / trainees by trade" has no meaning
    here.
-#}
with

measure_counts as (

    select
        measure_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        distinct_count
    from {{ ref('int_kpi_measures_counted') }}

),

rate_definitions as (

    select
        kpi_code,
        numerator_measure_code,
        denominator_measure_code
    from (
        values
            ('hrss_certificate_rate_pct', 'hrss_certificates_by_enrolment_date', 'hrss_trainees'),
            ('hrss_placement_rate_pct', 'hrss_trainees_placed_by_enrolment_date', 'hrss_trainees')
    ) as definitions (kpi_code, numerator_measure_code, denominator_measure_code)

),

-- one row per rate and key, the two counts side by side; max() only picks
-- the single count a measure has at a key, nothing is added up
rate_components as (

    select
        rate_definitions.kpi_code,
        measure_counts.period_grain,
        measure_counts.period_start_date,
        measure_counts.area_level,
        measure_counts.area_code,
        measure_counts.breakdown_dimension,
        measure_counts.breakdown_member,
        max(
            case
                when measure_counts.measure_code = rate_definitions.numerator_measure_code
                    then measure_counts.distinct_count
            end
        ) as numerator_count,
        max(
            case
                when measure_counts.measure_code = rate_definitions.denominator_measure_code
                    then measure_counts.distinct_count
            end
        ) as denominator_count
    from rate_definitions
    inner join measure_counts
        on measure_counts.measure_code in (
            rate_definitions.numerator_measure_code,
            rate_definitions.denominator_measure_code
        )
    where measure_counts.breakdown_dimension is null
    group by
        rate_definitions.kpi_code,
        measure_counts.period_grain,
        measure_counts.period_start_date,
        measure_counts.area_level,
        measure_counts.area_code,
        measure_counts.breakdown_dimension,
        measure_counts.breakdown_member

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
        cast(coalesce(numerator_count, 0) as numeric) as numerator,
        cast(coalesce(denominator_count, 0) as numeric) as denominator,
        case
            when coalesce(denominator_count, 0) = 0 then null
            else round(100.0 * coalesce(numerator_count, 0) / denominator_count, 2)
        end as rate_pct
    from rate_components

)

select * from calculated
