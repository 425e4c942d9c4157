-- Per check type and category: the share (0 to 1) of each result among completed checks, with counts.
create or replace view konnectnxt.discrepancy_rates as
select
    check_type,
    category,
    result,
    count(*) as checks,
    (sum(count(*)) over (partition by check_type, category))::bigint as completed_checks,
    count(*) / sum(count(*)) over (partition by check_type, category) as share
from konnectnxt.checks
where status = 'completed'
group by check_type, category, result
order by check_type, category, share desc;
