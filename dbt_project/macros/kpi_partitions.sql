{#-
    fct_kpi_value by changed period (docs/adr/0024): its pre-hook deletes
    the partitions kpi_changed_partitions lists, its model query inserts
    them again (the KPI aggregators read only those partitions), and its
    post-hook records the fingerprints they were computed from, in the same
    transaction, for the next build to compare with.
-#}

{% macro delete_changed_kpi_partitions() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as kpi_values
        using {{ ref('kpi_changed_partitions') }} as changed
        where kpi_values.kpi_code = changed.measure_code
            and kpi_values.period_grain = changed.period_grain
            and kpi_values.period_start_date = changed.period_start_date
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro record_kpi_fingerprints() -%}
    {%- set fingerprints = ref('kpi_input_fingerprints') -%}
    {%- set recorded = api.Relation.create(database=fingerprints.database, schema=fingerprints.schema, identifier='kpi_built_fingerprints') -%}
    create table if not exists {{ recorded }} (
        measure_code text not null,
        month_start_date date not null,
        fingerprint text not null,
        primary key (measure_code, month_start_date)
    );
    delete from {{ recorded }};
    insert into {{ recorded }} (measure_code, month_start_date, fingerprint)
    select measure_code, month_start_date, fingerprint
    from {{ fingerprints }};
    analyze {{ recorded }}
{%- endmacro %}


{#-
    fct_kpi_comparison by changed period (docs/adr/0034). fct_kpi_value's
    post-hook adds the partitions it replaced to
    intermediate.kpi_comparison_pending, in the transaction of its rows;
    fct_kpi_comparison recomputes the comparisons those partitions reach
    and empties the list in the transaction of its own rows. A build that
    stops between the two (a failing test on fct_kpi_value skips the
    comparison) leaves the list for the next build.
-#}

{% macro kpi_comparison_pending_relation() -%}
    {{- api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none), identifier='kpi_comparison_pending') -}}
{%- endmacro %}

{% macro kpi_comparison_context_relation() -%}
    {{- api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none), identifier='kpi_comparison_context') -}}
{%- endmacro %}

{% macro create_kpi_comparison_state() -%}
    create table if not exists {{ kpi_comparison_pending_relation() }} (
        kpi_code text not null,
        period_grain text not null,
        period_start_date date not null,
        primary key (kpi_code, period_grain, period_start_date)
    );
    create table if not exists {{ kpi_comparison_context_relation() }} (
        context_md5 text not null
    )
{%- endmacro %}

{#- Called by fct_kpi_value's post-hook, after record_kpi_fingerprints. -#}
{% macro add_kpi_comparison_pending() -%}
    {{ create_kpi_comparison_state() }};
    insert into {{ kpi_comparison_pending_relation() }} (kpi_code, period_grain, period_start_date)
    select distinct measure_code, period_grain, period_start_date
    from {{ ref('kpi_changed_partitions') }}
    on conflict do nothing
{%- endmacro %}

{#- What every comparison row also depends on besides the values: each
    KPI's direction and whether its months add up (dim_kpi), and each
    area's parent (dim_area). A change to either recomputes every row. -#}
{% macro kpi_comparison_context_sql() -%}
    select md5(
        coalesce((select string_agg(kpi_code || ' ' || coalesce(direction, '') || ' ' || coalesce(cast(adds_up_over_time as text), ''), ',' order by kpi_code)
                  from {{ ref('dim_kpi') }}), '')
        || ' | '
        || coalesce((select string_agg(area_code || ' ' || coalesce(parent_area_code, ''), ',' order by area_code)
                     from {{ ref('dim_area') }}), '')
    ) as context_md5
{%- endmacro %}

{#- The partitions (KPI x grain x period) whose comparison rows this build
    recomputes: each pending partition, the next period of its grain
    (previous value and rank), the same period a year later (last year's
    value) and the later periods of its year (year to date). Every
    partition when the context changed or was never recorded. -#}
{% macro kpi_comparison_affected_sql() -%}
    with pending as (
        select kpi_code, period_grain, period_start_date
        from {{ kpi_comparison_pending_relation() }}
    ),
    context_changed as (
        select not exists (
            select 1 from {{ kpi_comparison_context_relation() }} as recorded
            where recorded.context_md5 = ({{ kpi_comparison_context_sql() }})
        ) as changed
    ),
    steps as (
        select period_grain, step
        from (values ('month', interval '1 month'), ('quarter', interval '3 months'), ('year', interval '1 year'))
            as grains (period_grain, step)
    ),
    reached as (
        select pending.kpi_code, pending.period_grain, pending.period_start_date
        from pending
        union
        select pending.kpi_code, pending.period_grain, cast(pending.period_start_date + steps.step as date)
        from pending inner join steps on pending.period_grain = steps.period_grain
        union
        select pending.kpi_code, pending.period_grain, cast(pending.period_start_date + interval '1 year' as date)
        from pending
        union
        select pending.kpi_code, pending.period_grain, cast(later.period_start as date)
        from pending
        inner join steps on pending.period_grain = steps.period_grain
        cross join lateral generate_series(
            cast(pending.period_start_date as timestamp) + steps.step,
            date_trunc('year', cast(pending.period_start_date as timestamp)) + interval '1 year' - interval '1 day',
            steps.step
        ) as later (period_start)
        where pending.period_grain <> 'year'
    )
    select kpi_code, period_grain, period_start_date
    from reached
    where not (select changed from context_changed)
    union
    select distinct kpi_code, period_grain, period_start_date
    from {{ ref('fct_kpi_value') }}
    where (select changed from context_changed)
    union
    select distinct kpi_code, period_grain, period_start_date
    from {{ this }}
    where (select changed from context_changed)
{%- endmacro %}

{#- The fct_kpi_value partitions the affected comparisons read: each
    affected period, the one before it, the same period a year earlier and
    the earlier periods of its year (every area of each, for the ranks). -#}
{% macro kpi_comparison_inputs_sql(affected) -%}
    with steps as (
        select period_grain, step
        from (values ('month', interval '1 month'), ('quarter', interval '3 months'), ('year', interval '1 year'))
            as grains (period_grain, step)
    )
    select affected.kpi_code, affected.period_grain, affected.period_start_date
    from {{ affected }} as affected
    union
    select affected.kpi_code, affected.period_grain, cast(affected.period_start_date - steps.step as date)
    from {{ affected }} as affected inner join steps on affected.period_grain = steps.period_grain
    union
    select affected.kpi_code, affected.period_grain, cast(affected.period_start_date - interval '1 year' as date)
    from {{ affected }} as affected
    union
    select affected.kpi_code, affected.period_grain, cast(earlier.period_start as date)
    from {{ affected }} as affected
    inner join steps on affected.period_grain = steps.period_grain
    cross join lateral generate_series(
        date_trunc('year', cast(affected.period_start_date as timestamp)), cast(affected.period_start_date as timestamp), steps.step
    ) as earlier (period_start)
    where affected.period_grain <> 'year'
{%- endmacro %}

{% macro delete_affected_kpi_comparisons() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as comparisons
        using ({{ kpi_comparison_affected_sql() }}) as affected
        where comparisons.kpi_code = affected.kpi_code
            and comparisons.period_grain = affected.period_grain
            and comparisons.period_start_date = affected.period_start_date
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- After the comparison's rows: nothing pending, and the context they were computed in. -#}
{% macro record_kpi_comparison_done() -%}
    delete from {{ kpi_comparison_pending_relation() }};
    delete from {{ kpi_comparison_context_relation() }};
    insert into {{ kpi_comparison_context_relation() }} (context_md5) {{ kpi_comparison_context_sql() }}
{%- endmacro %}
