"""Index definitions that work on both databases the app runs on."""

from __future__ import annotations

import copy

from django.db import models
from django.db.models.expressions import OrderBy


class NullsLastIndex(models.Index):
    """An index whose descending expressions put NULLs last (``F("x").desc(nulls_last=True)``), as
    the keyset lists sort. PostgreSQL takes ``NULLS LAST`` in the index; SQLite refuses it in an
    index ("unsupported use of NULLS LAST") but sorts NULLs last in a descending order anyway (NULL
    is its smallest value), so there the modifier is left out and the index serves the same order."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "sqlite":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = copy.copy(self)
        plain.expressions = tuple(_without_nulls_last(e) for e in self.expressions)
        return models.Index.create_sql(plain, model, schema_editor, using=using, **kwargs)


def _without_nulls_last(expression):
    if isinstance(expression, OrderBy) and expression.descending and expression.nulls_last:
        plain = copy.copy(expression)
        plain.nulls_last = None
        return plain
    return expression
