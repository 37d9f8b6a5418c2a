{#-
    Incremental facts keyed on the delivered file (see docs/adr/0009).

    A fact built from one event extract is a table of rows each carrying
    its source_file_id. A run adds the rows of files it has not seen and
    drops the rows of files that no longer count (superseded by a
    correction), so a monthly run reprocesses that month's files, not the
    year. On the first build, or with --full-refresh, both are no-ops and
    the whole table is built.

    Use in a fact:

        {{ config(
            materialized='incremental',
            incremental_strategy='append',
            on_schema_change='fail',
            pre_hook="{{ delete_rows_of_replaced_files(ref('stg_...')) }}"
        ) }}
        ...
        from {{ ref('stg_...') }}
        where {{ only_new_source_files('source_file_id') }}
-#}

{% macro only_new_source_files(file_id_column) -%}
    {%- if is_incremental() -%}
        not exists (
            select 1 from {{ this }} as already_built
            where already_built.source_file_id = {{ file_id_column }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- staged: the fact's staging model, which holds the rows of exactly the
    files that count (stg_audit__load_manifest.is_row_source) -#}
{% macro delete_rows_of_replaced_files(staged) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where source_file_id not in (
            select distinct staged.source_file_id
            from {{ staged }} as staged
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
