"""Planner statistics after a bulk write: ``ANALYZE`` of the touched tables, on PostgreSQL.

A report import, a label import or a crash import can add more rows in a minute than a table
held before. Until autovacuum's next ANALYZE of that table (it waits for changes worth 10% of
the table plus 50 rows, and for its next round), the planner still believes the old row counts
and value distributions and may pick a plan made for a table a hundredth of the size: a
sequential scan where an index was right, or the reverse. So the services of those bulk writes
call ``analyze_after_bulk_write``, which refreshes the statistics of the tables they wrote
to, once their transaction commits.

* Only for large writes (``ANALYZE_MIN_ROWS`` rows or more): below that, the write cannot move
  the statistics much and autovacuum catches up.
* Only on PostgreSQL. SQLite (the demo and development database) has ``ANALYZE`` too, but its
  planner uses no statistics until a first ANALYZE writes ``sqlite_stat1``, and never refreshes
  them after that; statistics from an early, small import would then mislead it for good,
  which is worse than its built-in guesses. So nothing is run there.
* After the commit (``transaction.on_commit``): never inside the import's transaction, where it
  would hold its locks longer, and not at all when the import rolls back. ANALYZE reads a sample
  of at most 300 x ``default_statistics_target`` rows (30,000 by default) per table, so its cost
  does not grow with the table; it takes a SHARE UPDATE EXCLUSIVE lock, which does not block
  reads or writes. A failure (say, a concurrent ANALYZE) is logged, never raised: the
  import is done and stored by then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import DatabaseError, connections, models, transaction

logger = logging.getLogger(__name__)

ANALYZE_MIN_ROWS = 1000


def analyze_after_bulk_write(
    *, models_written: Iterable[type[models.Model]], rows: int, using: str = "default"
) -> bool:
    """Schedule ``ANALYZE`` of the tables of ``models_written`` for when the current transaction
    commits (at once without one), if ``rows`` (rows written) is at least ``ANALYZE_MIN_ROWS`` and
    the database is PostgreSQL. Returns whether it was scheduled."""
    connection = connections[using]
    if rows < ANALYZE_MIN_ROWS or connection.vendor != "postgresql":
        return False
    tables = sorted({model._meta.db_table for model in models_written})
    if not tables:
        return False

    def analyze():
        sql = "ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        except DatabaseError:
            logger.warning("planner statistics not refreshed after a bulk write: %s failed", sql, exc_info=True)

    transaction.on_commit(analyze, using=using)
    return True
