"""Who gave which value to which item, for one dimension, as numpy arrays.

``Ratings`` holds one entry per *label*: an annotation with a non-empty value. An annotator who
was never asked for a dimension on an item (no annotation) and one who left an optional
dimension empty (``item_labels_save`` stores ``""``) gave no label there: they count neither as
a disagreement nor as a missing value, and the item counts for them in no statistic.

Values are indices into ``values`` (the value domain): the category codes in codebook order for
single-choice and ordinal dimensions (any code no longer in the codebook is appended after
them), the distinct label sets for multiple choice (stored as codes joined by ';', see
``labelling.values``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from labelling.values import SEPARATOR

LEVELS = ("nominal", "ordinal", "multi")


def parse_set(value) -> frozenset:
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    return frozenset(c.strip() for c in str(value).split(SEPARATOR) if c.strip())


def _dense_index(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct ids ascending, each id's position among them): np.unique(return_inverse=True),
    in linear time when the ids lie in a range not much wider than their number (item ids do)."""
    if ids.size == 0:
        return ids, ids
    low, high = int(ids.min()), int(ids.max())
    if high - low > 8 * ids.size + 1024:
        return np.unique(ids, return_inverse=True)
    present = np.zeros(high - low + 1, dtype=bool)
    present[ids - low] = True
    position = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, position[ids - low]


@dataclass
class Ratings:
    level: str
    categories: list[str]  # codebook codes in order, then unknown codes
    unknown: list[str]
    item_ids: np.ndarray  # (N,) distinct item ids, ascending
    raters: list[str]  # distinct raters, sorted
    values: list  # the value domain: codes, or frozensets of codes for multiple choice
    item_idx: np.ndarray  # (L,) per label
    rater_idx: np.ndarray
    value_idx: np.ndarray
    _matrix: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_values(self) -> int:
        return len(self.values)

    def counts(self) -> np.ndarray:
        from labelling.agreement.statistics import value_counts

        return value_counts(self.item_idx, self.value_idx, n_items=self.n_items, n_values=self.n_values)

    def matrix(self) -> np.ndarray:
        """raters x items matrix of value indices, -1 where the rater gave no label."""
        if self._matrix is None:
            m = np.full((len(self.raters), self.n_items), -1, dtype=np.int64)
            m[self.rater_idx, self.item_idx] = self.value_idx
            self._matrix = m
        return self._matrix

    def membership(self) -> np.ndarray:
        """values x categories 0/1 matrix: which categories each value holds."""
        index = {c: j for j, c in enumerate(self.categories)}
        out = np.zeros((self.n_values, len(self.categories)), dtype=np.int64)
        for i, v in enumerate(self.values):
            for code in v if self.level == "multi" else [v]:
                out[i, index[code]] = 1
        return out

    # --- building --------------------------------------------------------------------------------

    @classmethod
    def from_groups(cls, groups: Iterable[tuple[str, object, Iterable[int]]], *, level: str, categories: list[str]):
        """From (rater, value, item ids) groups: every item in a group got ``value`` from ``rater``.
        Empty values are skipped. Raises ValueError when a rater labels an item twice."""
        if level not in LEVELS:
            raise ValueError(f"Unknown level '{level}'; use one of: {', '.join(LEVELS)}.")
        known = list(categories)
        unknown: list[str] = []
        parsed: list[tuple[str, object, np.ndarray]] = []
        for rater, value, items in groups:
            if level == "multi":
                value = parse_set(value)
                if not value:
                    continue
                codes = value
            else:
                value = str(value).strip() if value is not None else ""
                if not value:
                    continue
                codes = [value]
            for code in codes:
                if code not in known and code not in unknown:
                    unknown.append(code)
            parsed.append(
                (
                    str(rater),
                    value,
                    np.asarray(list(items) if not isinstance(items, np.ndarray) else items, dtype=np.int64),
                )
            )
        unknown.sort()
        all_categories = known + unknown
        if level == "multi":
            order = {c: j for j, c in enumerate(all_categories)}
            domain = sorted({v for _, v, _ in parsed}, key=lambda s: (len(s), sorted(order[c] for c in s)))
        else:
            domain = all_categories
        value_index = {v: i for i, v in enumerate(domain)}
        raters = sorted({r for r, _, _ in parsed})
        rater_index = {r: i for i, r in enumerate(raters)}
        sizes = [len(items) for _, _, items in parsed]
        raw_items = np.concatenate([items for _, _, items in parsed]) if parsed else np.zeros(0, dtype=np.int64)
        rater_idx = np.repeat(np.array([rater_index[r] for r, _, _ in parsed], dtype=np.int64), sizes)
        value_idx = np.repeat(np.array([value_index[v] for _, v, _ in parsed], dtype=np.int64), sizes)
        item_ids, item_idx = _dense_index(raw_items)
        keys = rater_idx * max(len(item_ids), 1) + item_idx
        if keys.size and np.bincount(keys).max() > 1:
            raise ValueError(
                "A rater labelled the same item twice on one dimension; give one value per rater and item."
            )
        return cls(level, all_categories, unknown, item_ids, raters, list(domain), item_idx, rater_idx, value_idx)

    @classmethod
    def from_triples(cls, triples: Iterable[tuple[int, str, object]], *, level: str, categories: list[str]):
        """From (item id, rater, value) triples; a multiple-choice value is codes joined by ';' or a list."""
        groups: dict[tuple[str, object], list[int]] = defaultdict(list)
        for item_id, rater, value in triples:
            key = parse_set(value) if level == "multi" else value
            groups[(rater, key)].append(int(item_id))
        return cls.from_groups(((r, v, items) for (r, v), items in groups.items()), level=level, categories=categories)

    def mapped(self, mapping: dict[str, str], *, categories: list[str]) -> Ratings:
        """The same labels with every code replaced by ``mapping[code]`` (e.g. its top-level parent)."""
        groups = []
        for v in range(self.n_values):
            value = self.values[v]
            new = frozenset(mapping.get(c, c) for c in value) if self.level == "multi" else mapping.get(value, value)
            mask = self.value_idx == v
            for r in np.unique(self.rater_idx[mask]):
                items = self.item_ids[self.item_idx[mask & (self.rater_idx == r)]]
                groups.append((self.raters[r], new, items))
        return Ratings.from_groups(groups, level=self.level, categories=categories)


def dimensions_ratings(
    specs: list[tuple[object, str, list[str]]], *, labels=None, codebook_version: int | None = None
) -> dict[int, Ratings]:
    """{dimension id: Ratings} for (dimension, level, categories) specs, in ONE aggregated query.

    ``labels``: the rows to read (a queryset with ``item``, ``annotator``, ``dimension`` and
    ``value``, e.g. one calibration round's pass: ``labelling.selectors.rounds.round_labels``);
    every annotation when None.

    On PostgreSQL each row is a dimension, an annotator, a value and the array of item ids
    (``array_agg``), so 900,000 labels come back as a few hundred rows, and the annotation table
    is scanned once for all dimensions (their rows share pages: an item's labels are saved
    together). Grouped by annotator id (a hash aggregate), the names are read apart. Elsewhere
    (SQLite), plain rows grouped in Python. ``codebook_version``: only the labels last saved under
    that codebook version or an earlier one (``Annotation.codebook_version``).
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labelling.models import Annotation

    if not specs:
        return {}
    ids = [d.pk for d, _, _ in specs]
    base = Annotation.objects.all() if labels is None else labels
    labels = base.filter(dimension_id__in=ids).exclude(value="").order_by()
    if codebook_version is not None:
        labels = labels.filter(codebook_version__lte=codebook_version)
    groups: dict[int, list] = defaultdict(list)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        rows = list(labels.values_list("dimension_id", "annotator_id", "value").annotate(items=ArrayAgg("item_id")))
        names = dict(get_user_model().objects.filter(id__in={r[1] for r in rows}).values_list("id", "username"))
        for dimension_id, annotator_id, value, items in rows:
            groups[dimension_id].append((names[annotator_id], value, items))
    else:
        by_key: dict[tuple, list[int]] = defaultdict(list)
        for dimension_id, item_id, username, value in labels.values_list(
            "dimension_id", "item_id", "annotator__username", "value"
        ):
            by_key[(dimension_id, username, value)].append(item_id)
        for (dimension_id, username, value), items in by_key.items():
            groups[dimension_id].append((username, value, items))
    return {
        d.pk: Ratings.from_groups(groups.get(d.pk, []), level=level, categories=categories)
        for d, level, categories in specs
    }


def dimension_ratings(*, dimension, level: str, categories: list[str]) -> Ratings:
    """The labels of one dimension from the database (see ``dimensions_ratings``)."""
    return dimensions_ratings([(dimension, level, categories)])[dimension.pk]
