"""The analytics views: plain SQL files in `views/`, re-created after every run."""

import logging
from pathlib import Path

from .errors import cause_line
from .warehouse import Warehouse

logger = logging.getLogger("bgv")
VIEWS_DIR = Path(__file__).parent / "views"


def apply_views(warehouse: Warehouse) -> None:
    """(Re)create every view; a failure is logged, not fatal: the data is loaded already."""
    for sql_file in sorted(VIEWS_DIR.glob("*.sql")):
        try:
            warehouse.client.execute_sql(sql_file.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - a missing view must not fail the run
            logger.warning("view %s not created: %s", sql_file.stem, cause_line(exc))
