-- Per check type and category: the share (0 to 1) of each result among completed checks, with counts.
select
    check_type,
    category,
    result,
    count(*) as checks,
    cast(sum(count(*)) over (partition by check_type, category) as bigint) as completed_checks,
    cast(count(*) as double) / cast(sum(count(*)) over (partition by check_type, category) as double) as share
from checks
where lower(trim(status)) = 'completed'
group by check_type, category, result
order by check_type, category, share desc
