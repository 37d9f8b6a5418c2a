-- The unique_combination generic test, run on fixed rows: it must report
-- exactly the duplicated combinations, treat nulls as equal (two total rows
-- with a null breakdown are duplicates), and pass rows that differ in any
-- column. Returns a row if the test's findings differ from what is expected.
with

duplicates_found as (

    {{ test_unique_combination(
        model="(values
            ('hrss_trainees', 'year', null),
            ('hrss_trainees', 'year', null),
            ('hrss_trainees_placed', 'year', 'agronomy'),
            ('hrss_trainees_placed', 'year', 'agronomy'),
            ('hrss_trainees_placed', 'year', 'agronomy'),
            ('hrss_trainees_placed', 'year', 'electrician'),
            ('hrss_trainees_placed', 'month', 'electrician')
        ) as fixture (kpi_code, period_grain, breakdown_member)",
        combination_of_columns=["kpi_code", "period_grain", "breakdown_member"],
    ) }}

),

expected as (

    select
        kpi_code,
        period_grain,
        breakdown_member,
        occurrence_count
    from (
        values
            ('hrss_trainees', 'year', cast(null as text), cast(2 as bigint)),
            ('hrss_trainees_placed', 'year', 'agronomy', cast(3 as bigint))
    ) as expected_rows (kpi_code, period_grain, breakdown_member, occurrence_count)

),

found as (

    select
        kpi_code,
        period_grain,
        breakdown_member,
        occurrence_count
    from duplicates_found

),

missing as (

    select 'expected but not reported' as problem, kpi_code, period_grain, breakdown_member, occurrence_count from expected
    except
    select 'expected but not reported', kpi_code, period_grain, breakdown_member, occurrence_count from found

),

unexpected as (

    select 'reported but not expected' as problem, kpi_code, period_grain, breakdown_member, occurrence_count from found
    except
    select 'reported but not expected', kpi_code, period_grain, breakdown_member, occurrence_count from expected

)

select problem, kpi_code, period_grain, breakdown_member, occurrence_count from missing
union all
select problem, kpi_code, period_grain, breakdown_member, occurrence_count from unexpected
