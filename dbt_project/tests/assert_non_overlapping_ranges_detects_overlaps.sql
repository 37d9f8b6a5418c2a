-- The non_overlapping_ranges generic test, run on fixed rows: ranges are
-- half-open [valid_from, valid_to), null valid_to = still valid. It must
-- report a version that overlaps the next one (including an open-ended
-- version followed by another) and a range that ends before it starts, and
-- pass versions that meet exactly (a bed change, a transfer) and ranges of
-- different entities. Returns a row if its findings differ from what is
-- expected.
with

problems_found as (

    {{ test_non_overlapping_ranges(
        model="(values
            ('W1', date '2023-01-01', date '2023-06-01'),
            ('W1', date '2023-06-01', date '2023-09-01'),
            ('W1', date '2023-09-01', cast(null as date)),
            ('W2', date '2023-01-01', date '2023-07-01'),
            ('W2', date '2023-06-01', cast(null as date)),
            ('W3', date '2023-01-01', cast(null as date)),
            ('W3', date '2023-03-01', date '2023-04-01'),
            ('W4', date '2023-05-01', date '2023-05-01'),
            ('W5', date '2020-01-01', date '2023-06-01'),
            ('W6', date '2023-06-01', cast(null as date))
        ) as fixture (ward_id, valid_from, valid_to)",
        partition_by=["ward_id"],
        lower_bound_column="valid_from",
        upper_bound_column="valid_to",
    ) }}

),

expected as (

    select
        ward_id,
        range_lower_bound,
        range_upper_bound,
        problem
    from (
        values
            ('W2', date '2023-01-01', date '2023-07-01', 'overlaps the next range'),
            ('W3', date '2023-01-01', cast(null as date), 'overlaps the next range'),
            ('W4', date '2023-05-01', date '2023-05-01', 'ends before it starts')
    ) as expected_rows (ward_id, range_lower_bound, range_upper_bound, problem)

),

found as (

    select
        ward_id,
        range_lower_bound,
        range_upper_bound,
        problem
    from problems_found

),

missing as (

    select 'expected but not reported' as finding, ward_id, range_lower_bound, range_upper_bound, problem from expected
    except
    select 'expected but not reported', ward_id, range_lower_bound, range_upper_bound, problem from found

),

unexpected as (

    select 'reported but not expected' as finding, ward_id, range_lower_bound, range_upper_bound, problem from found
    except
    select 'reported but not expected', ward_id, range_lower_bound, range_upper_bound, problem from expected

)

select finding, ward_id, range_lower_bound, range_upper_bound, problem from missing
union all
select finding, ward_id, range_lower_bound, range_upper_bound, problem from unexpected
