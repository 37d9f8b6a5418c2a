{#-
    Use a model's custom schema name verbatim (`staging`, `intermediate`,
    `marts_audit`, `reference`) instead of dbt's default
    `<target schema>_<custom schema>`: the publish step and the dashboards
    look for these exact names in every environment.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
