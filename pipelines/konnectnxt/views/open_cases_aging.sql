-- Open cases by age bucket (whole days since first seen: 0-3, 4-7, 8-14, 15+) and by the check types
-- they wait on. A case waiting on two check types counts once under each; open_cases_in_bucket counts
-- each case once.
with open_cases as (
    select
        case_id,
        cast(floor(extract(epoch from current_timestamp - first_seen_at) / 86400) as integer) as age_days
    from cases
    where status is null or lower(trim(status)) not in ('completed', 'rejected')
),
bucketed as (
    select
        case_id,
        case when age_days <= 3 then '0-3' when age_days <= 7 then '4-7' when age_days <= 14 then '8-14' else '15+' end
            as age_bucket,
        case when age_days <= 3 then 1 when age_days <= 7 then 2 when age_days <= 14 then 3 else 4 end as bucket_order
    from open_cases
),
waiting as (
    select b.age_bucket, b.bucket_order, coalesce(k.check_type, '(nothing pending)') as waiting_on, b.case_id
    from bucketed b
    left join checks k
        on k.case_id = b.case_id and (lower(trim(k.status)) is distinct from 'completed' or k.result = 'pending')
),
totals as (
    select age_bucket, count(*) as open_cases_in_bucket from bucketed group by age_bucket
)
select w.age_bucket, w.bucket_order, w.waiting_on, count(distinct w.case_id) as open_cases, t.open_cases_in_bucket
from waiting w
join totals t on t.age_bucket = w.age_bucket
group by w.age_bucket, w.bucket_order, w.waiting_on, t.open_cases_in_bucket
order by w.bucket_order, open_cases desc, w.waiting_on
