{#-
    The KPI partitions this build recomputes: one row per measure x period
    grain x period whose inputs changed since fct_kpi_value was last built.

    A month is changed when its fingerprint (kpi_input_fingerprints)
    differs from the one recorded when fct_kpi_value was last built
    (kpi_built_fingerprints, written by fct_kpi_value's post-hook in the
    same transaction as its rows), or exists on one side only. A changed
    month changes its month, its quarter and its year. A ratio's period is
    changed when its numerator's or denominator's is, and then both are
    recomputed with it (kpi_ratios_calculated needs the two side by side).

    Every partition is listed, and fct_kpi_value rebuilt whole, on a full
    refresh, when fct_kpi_value does not exist yet, or when nothing was
    recorded. A build that fails before fct_kpi_value records nothing, so
    the next build sees the same changes again.
    docs/adr/0024-kpi-values-by-changed-period.md.
-#}
{{ config(materialized='table', post_hook="analyze {{ this }}") }}

{%- set kpi_values, recorded = none, none -%}
{%- if execute -%}
    {%- set kpi_values = adapter.get_relation(database=target.database, schema=generate_schema_name('marts_audit', none), identifier='fct_kpi_value') -%}
    {%- set recorded = adapter.get_relation(database=target.database, schema=this.schema, identifier='kpi_built_fingerprints') -%}
{%- endif -%}
{%- set compare = kpi_values is not none and recorded is not none and not flags.FULL_REFRESH %}

with recursive

current_months as (

    select
        measure_code,
        month_start_date,
        fingerprint
    from {{ ref('kpi_input_fingerprints') }}

),

changed_months as (

{%- if compare %}

    select coalesce(current_months.measure_code, recorded.measure_code) as measure_code,
        coalesce(current_months.month_start_date, recorded.month_start_date) as month_start_date
    from current_months
    full outer join {{ recorded }} as recorded
        on current_months.measure_code = recorded.measure_code
        and current_months.month_start_date = recorded.month_start_date
    where current_months.fingerprint is distinct from recorded.fingerprint

{%- else %}

    -- nothing to compare with: every month
    select measure_code, month_start_date
    from current_months

{%- endif %}

),

period_grains as (

    select period_grain
    from (values ('month'), ('quarter'), ('year')) as grains (period_grain)

),

measure_partitions as (

    select distinct
        changed_months.measure_code,
        period_grains.period_grain,
        cast(date_trunc(period_grains.period_grain, cast(changed_months.month_start_date as timestamp)) as date) as period_start_date
    from changed_months
    cross join period_grains

),

ratios as (

    select kpi_code, numerator_measure_code, denominator_measure_code
    from (
        values
        {%- for ratio in kpi_measures(["ratio"]) %}
            ('{{ ratio.measure }}', '{{ ratio.numerator }}', '{{ ratio.denominator }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as definitions (kpi_code, numerator_measure_code, denominator_measure_code)

),

-- a ratio, its numerator and its denominator, wherever one of them is
-- recomputed; closed over ratios that share a measure (a denominator
-- recomputed for one rate makes kpi_ratios_calculated compute every rate
-- over it, so those rates are replaced too)
partitions (measure_code, period_grain, period_start_date) as (

    select measure_code, period_grain, period_start_date
    from measure_partitions

    union

    select
        members.measure_code,
        partitions.period_grain,
        partitions.period_start_date
    from partitions
    inner join ratios
        on partitions.measure_code in (ratios.numerator_measure_code, ratios.denominator_measure_code)
    cross join lateral (
        values (ratios.kpi_code), (ratios.numerator_measure_code), (ratios.denominator_measure_code)
    ) as members (measure_code)

)

select
    cast(measure_code as text) as measure_code,
    cast(period_grain as text) as period_grain,
    cast(period_start_date as date) as period_start_date
from partitions
