{#- One row per KPI target (seeds/kpi_targets.csv: KPI, area, period, the
    newest version of the target): the published value of that KPI, area
    and period (the total, no breakdown), the target, how far the value has
    come (attainment) and its status by the KPI's direction (macro
    kpi_status). The KPI definition version is the one in force for the
    period (dim_kpi_version), the target version the newest set; both are
    published with the row, so a changed definition or target shows as a new
    version and a publication keeps the versions it used. -#}
with

targets as (

    select
        kpi_code,
        area_code,
        period_grain,
        period_start_date,
        target_version,
        set_on,
        target_value,
        amber_band_pct,
        source,
        row_number() over (
            partition by kpi_code, area_code, period_grain, period_start_date
            order by target_version desc
        ) as newest_first
    from {{ ref('kpi_targets') }}

),

kpi_values as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_code,
        value
    from {{ ref('fct_kpi_value') }}
    where breakdown_dimension is null

),

kpi_versions as (

    select
        kpi_code,
        kpi_version,
        valid_from,
        valid_to,
        direction
    from {{ ref('dim_kpi_version') }}

),

areas as (

    select
        area_code,
        area_level
    from {{ ref('dim_area') }}

)

select
    targets.kpi_code,
    targets.period_grain,
    targets.period_start_date,
    areas.area_level,
    targets.area_code,
    kpi_values.value,
    targets.target_value,
    case
        when targets.target_value <> 0 then round(100 * kpi_values.value / targets.target_value, 2)
    end as attainment_pct,
    {{ kpi_status('kpi_values.value', 'targets.target_value', 'kpi_versions.direction', 'targets.amber_band_pct') }} as status,
    kpi_versions.direction,
    targets.amber_band_pct,
    kpi_versions.kpi_version,
    targets.target_version,
    targets.set_on as target_set_on,
    targets.source as target_source
from targets
inner join areas
    on targets.area_code = areas.area_code
left join kpi_values
    on targets.kpi_code = kpi_values.kpi_code
    and targets.period_grain = kpi_values.period_grain
    and targets.period_start_date = kpi_values.period_start_date
    and targets.area_code = kpi_values.area_code
left join kpi_versions
    on targets.kpi_code = kpi_versions.kpi_code
    and targets.period_start_date >= coalesce(kpi_versions.valid_from, '-infinity'::date)
    and targets.period_start_date <= coalesce(kpi_versions.valid_to, 'infinity'::date)
where targets.newest_first = 1
