{#-
    Macros of the reading layer (models/marts/kpi): a KPI value's status
    against its target, and the start of the period before a period.
-#}

{#- 'green', 'amber', 'red' or 'no_data' for a value against its target,
    by the KPI's direction (dim_kpi.direction) and the target's amber band
    (a percentage of the target):
    - higher_is_better: green at or above the target, amber below it by at
      most the band, red further below;
    - lower_is_better: green at or below the target, amber above it by at
      most the band, red further above;
    - neutral: green within the band either side of the target, amber within
      twice the band, red further away.
    No value (nothing delivered, or a rate with no denominator): no_data. -#}
{% macro kpi_status(value, target, direction, amber_band_pct) -%}
    case
        when {{ value }} is null or {{ target }} is null then 'no_data'
        when {{ direction }} = 'higher_is_better' then
            case
                when {{ value }} >= {{ target }} then 'green'
                when {{ value }} >= {{ target }} - abs({{ target }}) * {{ amber_band_pct }} / 100 then 'amber'
                else 'red'
            end
        when {{ direction }} = 'lower_is_better' then
            case
                when {{ value }} <= {{ target }} then 'green'
                when {{ value }} <= {{ target }} + abs({{ target }}) * {{ amber_band_pct }} / 100 then 'amber'
                else 'red'
            end
        else
            case
                when abs({{ value }} - {{ target }}) <= abs({{ target }}) * {{ amber_band_pct }} / 100 then 'green'
                when abs({{ value }} - {{ target }}) <= abs({{ target }}) * 2 * {{ amber_band_pct }} / 100 then 'amber'
                else 'red'
            end
    end
{%- endmacro %}

{#- The first day of the period before the one of `grain` starting on `start`. -#}
{% macro previous_period_start(grain, start) -%}
    cast(
        case {{ grain }}
            when 'month' then {{ start }} - interval '1 month'
            when 'quarter' then {{ start }} - interval '3 months'
            when 'year' then {{ start }} - interval '1 year'
        end
    as date)
{%- endmacro %}

{#- A change in percent of its base; null when there is no base or it is zero. -#}
{% macro change_pct(value, base) -%}
    case when {{ base }} <> 0 then round(100 * ({{ value }} - {{ base }}) / abs({{ base }}), 2) end
{%- endmacro %}
