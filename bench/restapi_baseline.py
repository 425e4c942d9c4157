"""What a user would write otherwise: dlt's generic rest_api source, one request per case id.

The ids come from a parent resource yielding one list; `include_from_parent` carries the case id
into each report row. Every other setting is left at dlt's default (sequential requests, default
write disposition and loader file format).

usage: python bench/restapi_baseline.py BASE_URL API_KEY IDS_FILE DUCKDB_FILE PIPELINES_DIR
"""

import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def baseline_source(base_url: str, api_key: str, case_ids: list[str]):
    @dlt.resource(name="case_ids", selected=False)
    def case_id_list():
        yield [{"case_id": case_id} for case_id in case_ids]

    return rest_api_source(
        {
            "client": {"base_url": base_url.rstrip("/") + "/", "auth": {"type": "bearer", "token": api_key}},
            "resources": [
                case_id_list,
                {
                    "name": "reports",
                    "endpoint": {
                        "path": "recruiter/v2/report-json/",
                        "params": {"case_id": "{resources.case_ids.case_id}"},
                    },
                    "include_from_parent": ["case_id"],
                },
            ],
        }
    )


def main() -> None:
    base_url, api_key, ids_file, duckdb_file, pipelines_dir = sys.argv[1:6]
    with open(ids_file, encoding="utf-8") as handle:
        case_ids = [line.strip() for line in handle if line.strip()]
    pipeline = dlt.pipeline(
        "restapi_baseline",
        destination=dlt.destinations.duckdb(duckdb_file),
        dataset_name="baseline",
        pipelines_dir=pipelines_dir,
    )
    pipeline.run(baseline_source(base_url, api_key, case_ids))


if __name__ == "__main__":
    main()
