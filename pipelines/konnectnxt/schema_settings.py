"""How dlt treats the values of the pipeline's schema: stored as sent, never coerced, never guessed.

dlt's default normalizer coerces a value into the type its column already has (`"no"` into a bool
column becomes false, `"0x10"` into a bigint column 16) and types ISO-looking text as timestamps.
Here a value whose type differs from its column's goes to a variant column (`pincode__v_text`),
and text stays text.
"""

from typing import Any

import dlt

from .settings import LOADER_FILE_FORMAT, SOURCE_NAME
from .table_spec import Table

# The columns dlt's normalizer gives every row of a root table, as it infers them.
_NORMALIZER_COLUMNS = {
    "_dlt_load_id": {"data_type": "text", "nullable": False},
    "_dlt_id": {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
}


def never_coerce() -> None:
    """Before a pipeline opens: values that do not fit their column's type go to variant columns.

    max_nesting 0 (every nested value a JSON column) is the sources' `max_table_nesting=0`, repeated:
    this setting replaces the schema's normalizer settings whole, also when no source runs (pending data).
    """
    dlt.config[f"sources.{SOURCE_NAME}.schema.json_normalizer"] = {
        "module": "relational_no_coercion",
        "config": {"max_nesting": 0},
    }


def keep_values_as_sent() -> None:
    """Called first in every source of the schema: no type is guessed from a text's look."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")


def declared_table(table: Table) -> dict[str, Any]:
    """`table` as dlt's schema holds it once an empty file of it went through extract and normalize.

    Declaring it so in the source's schema creates it with no file and no load job of its own, which
    cost a new warehouse's first run a fifth of its time. `test_registry.py` checks the two ways agree.
    """
    declared = dlt.resource([], **table.resource_hints()).compute_table_schema()
    declared["file_format"] = LOADER_FILE_FORMAT
    for name, column in _NORMALIZER_COLUMNS.items():
        declared["columns"][name] = {"name": name, **column}
    declared["x-normalizer"] = {"seen-data": True}
    return declared
