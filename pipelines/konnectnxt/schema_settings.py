"""How dlt treats the values of the pipeline's schema: stored as sent, never coerced, never guessed.

dlt's default normalizer coerces a value into the type its column already has (`"no"` into a bool
column becomes false, `"0x10"` into a bigint column 16) and types ISO-looking text as timestamps.
Here a value whose type differs from its column's goes to a variant column (`pincode__v_text`),
and text stays text.
"""

import dlt

from .settings import SOURCE_NAME


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
