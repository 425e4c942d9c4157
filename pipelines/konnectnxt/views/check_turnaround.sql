-- Turnaround of a check (fractional days) = its completed_at minus its case's first_seen_at, counted
-- only when the case was first seen before the check completed; the others (backfilled from the past)
-- are counted in excluded_backfilled. Month = month of completed_at in report_timezone. Percentiles
-- interpolate linearly (quantile_cont; percentile_cont ... within group in PostgreSQL).
with zone as (
    select report_timezone from report_settings limit 1
),
completed as (
    select
        k.check_type,
        cast(date_trunc('month', k.completed_at at time zone (select report_timezone from zone)) as date) as month,
        cast(extract(epoch from k.completed_at - c.first_seen_at) / 86400 as double) as turnaround_days,
        c.first_seen_at < k.completed_at as counted
    from checks k
    join cases c on c.case_id = k.case_id
    where k.completed_at is not null
)
select
    check_type,
    month,
    count(case when counted then 1 end) as checks,
    count(case when not counted then 1 end) as excluded_backfilled,
    quantile_cont(case when counted then turnaround_days end, 0.5) as p50_days,
    quantile_cont(case when counted then turnaround_days end, 0.9) as p90_days,
    quantile_cont(case when counted then turnaround_days end, 0.95) as p95_days
from completed
group by check_type, month
order by check_type, month
