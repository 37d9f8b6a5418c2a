{#-
    md5 of the columns' text values joined with '|'. A null becomes the
    marker '_null_' so that (null, 'a') and ('a', null) get different keys
    and no key is ever null. Our own stand-in for dbt_utils'
    generate_surrogate_key: the package hub cannot be reached from here.
-#}
{% macro surrogate_key(columns) -%}
    {%- if columns is string or columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("surrogate_key() takes a non-empty list of column expressions, got: " ~ columns) }}
    {%- endif -%}
    md5(
        {%- for column in columns %}
        coalesce(cast({{ column }} as text), '_null_'){% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
