{#-
    Use a model's custom schema name verbatim (`staging`, `intermediate`,
    `marts_audit`, `reference`) instead of dbt's default
    `<target schema>_<custom schema>`: the publish step and the dashboards
    look for these exact names in every environment.

    With the var `schema_prefix` (set by `govkpi audit verify`), every
    custom schema becomes `<prefix>_<name>`: a scratch rebuild beside the
    real schemas, never over them.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = var('schema_prefix', '') -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif prefix -%}
        {{ prefix }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
