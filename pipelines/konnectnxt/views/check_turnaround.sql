-- Turnaround of a check (fractional days) = its completed_at minus its case's first_seen_at, counted
-- only when the case was first seen before the check completed; the others (backfilled from the past)
-- are counted in excluded_backfilled. Month = month of completed_at in report_timezone.
create or replace view konnectnxt.check_turnaround as
with zone as (
    select report_timezone from konnectnxt.report_settings limit 1
),
completed as (
    select
        k.check_type,
        date_trunc('month', timezone((select report_timezone from zone), k.completed_at))::date as month,
        epoch(k.completed_at - c.first_seen_at) / 86400.0 as turnaround_days,
        c.first_seen_at < k.completed_at as counted
    from konnectnxt.checks k
    join konnectnxt.cases c on c.case_id = k.case_id
    where k.completed_at is not null
)
select
    check_type,
    month,
    count(*) filter (where counted) as checks,
    count(*) filter (where not counted) as excluded_backfilled,
    quantile_cont(turnaround_days, 0.5) filter (where counted) as p50_days,
    quantile_cont(turnaround_days, 0.9) filter (where counted) as p90_days,
    quantile_cont(turnaround_days, 0.95) filter (where counted) as p95_days
from completed
group by all
order by check_type, month;
