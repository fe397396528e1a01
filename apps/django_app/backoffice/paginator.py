"""A changelist paginator that does not COUNT(*) a big table.

Django's paginator counts every matching row to number the pages; on a million orders
that count costs more than the page itself. This one asks the planner first
(``EXPLAIN``, which reads the table's statistics, not its rows) and counts exactly
only when the estimate is small. Page numbers on big results are therefore
approximate, as the admin says ("about N"); the rows on each page are exact.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many (estimated) rows the exact count is cheap enough to take.
EXACT_BELOW = 10_000


def planner_estimate(queryset: QuerySet) -> int:
    """The number of rows PostgreSQL's planner expects ``queryset`` to return."""
    try:
        sql, params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    estimated = False  # True once ``count`` came from the planner

    @property
    def exact_below(self) -> int:
        return getattr(settings, "BACKOFFICE_EXACT_COUNT_BELOW", EXACT_BELOW)

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        estimate = planner_estimate(self.object_list)
        if estimate < self.exact_below:
            return self.object_list.count()
        self.estimated = True
        return estimate
