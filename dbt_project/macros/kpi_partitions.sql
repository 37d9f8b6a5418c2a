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

