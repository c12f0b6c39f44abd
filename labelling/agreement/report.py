"""The agreement figures of one dimension, as the JSON the command, the API and the page share.

``agreement_from_triples`` is the pure entry point: (item id, rater, value) triples, the level
and the category list in, the dimension's figures out, no database. A later pseudo-dimension
(e.g. screening votes of several screeners) reuses it as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import combinations

import numpy as np

from labelling.agreement import bands
from labelling.agreement import bootstrap as bs
from labelling.agreement import statistics as st
from labelling.agreement.ratings import Ratings

DISTANCE_NAMES = {
    "nominal": "nominal",
    "ordinal": "ordinal",
    "multi": "masi",
}
NOTES = {
    "masi": "Multiple choice: labels are sets of categories; Krippendorff's alpha uses the MASI distance "
    "(Passonneau 2006: 1 - Jaccard x monotonicity, with monotonicity 1 for equal sets, 2/3 when one set "
    "contains the other, 1/3 when they overlap, 0 when disjoint). Percent agreement, Fleiss' kappa, "
    "Gwet's AC1 and Cohen's kappa treat each distinct set as one value (only identical sets agree); "
    "the per-category figures ask 'does the label hold this category?'.",
    "hierarchy": "Parent level: every category is replaced by its top-level parent for percent agreement, "
    "the kappas and AC1; Krippendorff's alpha at the parent level gives partial credit instead: distance 0 "
    "for the same category, 0.5 for a sub-category against its parent or a sibling, 1 across parents.",
}


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _coefficient(value, **extra) -> dict:
    value = _num(value)
    return {"value": value, "band": bands.band(value), **extra}


def _pair(bounds: tuple[float, float]) -> list[float] | None:
    low, high = _num(bounds[0]), _num(bounds[1])
    return None if low is None or high is None else [low, high]


def _interval(interval: bs.Interval) -> list[float] | None:
    return [_num(interval.low), _num(interval.high)] if interval.used else None


def _figures(
    ratings: Ratings,
    *,
    names: dict[str, str],
    alpha_distance,
    distance_name: str,
    n_categories_ac1: int,
    resamples: int,
    seed: int,
) -> dict:
    counts = ratings.counts()
    compressed = st.patterns(counts)  # every figure but Fleiss' kappa reads the distinct rows only
    m = counts.sum(axis=1)
    paired = m >= 2
    matrix = ratings.matrix()
    raters_paired = np.unique(ratings.rater_idx[paired[ratings.item_idx]]) if paired.any() else np.zeros(0, int)

    fleiss_mask, per_item = st.fleiss_subset(counts)
    table = counts[fleiss_mask]
    fleiss = st.fleiss_kappa(table)
    alpha = st.krippendorff_alpha(compressed, distance=alpha_distance)
    fleiss_ci, alpha_ci = bs.intervals(
        compressed, labels_per_item=per_item, distance=alpha_distance, resamples=resamples, seed=seed
    )

    ordinal = ratings.level == "ordinal"
    pairs = []
    for a, b in combinations(range(len(ratings.raters)), 2):
        both = (matrix[a] >= 0) & (matrix[b] >= 0)
        n_both = int(both.sum())
        if not n_both:
            continue
        y1, y2 = matrix[a][both], matrix[b][both]
        pair_table = st.contingency(y1, y2, n_values=ratings.n_values)
        kappa = st.cohen_kappa(pair_table)
        pairs.append(
            {
                "raters": [ratings.raters[a], ratings.raters[b]],
                "items": n_both,
                "value": _num(kappa),
                "band": bands.band(_num(kappa)),
                "ci95": _pair(st.cohen_kappa_interval(pair_table)),
                "percent_agreement": _num(np.trace(pair_table) / n_both),
                "linear_weighted": _num(st.cohen_kappa(pair_table, weights="linear")) if ordinal else None,
                "quadratic_weighted": _num(st.cohen_kappa(pair_table, weights="quadratic")) if ordinal else None,
            }
        )

    # Per category: "this category vs. the rest" (Fleiss 1971), on the items Fleiss' kappa uses.
    membership = ratings.membership()
    category_table = table @ membership  # items x categories: labels holding the category
    if table.shape[0]:
        per_category = st.category_kappas(category_table, per_item)
    else:
        per_category = np.full(len(ratings.categories), np.nan)
    label_counts = counts.sum(axis=0) @ membership
    categories = [
        {
            "code": code,
            "name": names.get(code, code),
            "kappa": _num(per_category[j]),
            "band": bands.band(_num(per_category[j])),
            "labels": int(label_counts[j]),
        }
        for j, code in enumerate(ratings.categories)
    ]
    return {
        "items": int(paired.sum()),
        "raters": int(raters_paired.size),
        "labels": int(m[paired].sum()),
        "items_with_one_label": int((m == 1).sum()),
        "percent_agreement": _num(st.percent_agreement(compressed)),
        "fleiss_kappa": _coefficient(
            fleiss,
            ci95=_interval(fleiss_ci),
            items=int(fleiss_mask.sum()),
            labels_per_item=per_item or None,
            resamples=resamples,
        ),
        "krippendorff_alpha": _coefficient(
            alpha, ci95=_interval(alpha_ci), items=int(paired.sum()), distance=distance_name, resamples=resamples
        ),
        "gwet_ac1": _coefficient(st.gwet_ac1(compressed, n_categories=n_categories_ac1), categories=n_categories_ac1),
        "cohen_kappa": pairs,
        "categories": categories,
    }


def ratings_agreement(
    ratings: Ratings,
    *,
    code: str,
    name: str = "",
    names: dict[str, str] | None = None,
    parents: dict[str, str | None] | None = None,
    resamples: int = bs.RESAMPLES,
    seed: int = bs.SEED,
) -> dict:
    """The figures of one dimension from its ``Ratings`` (see ``agreement_from_triples``)."""
    names = names or {}
    level = ratings.level
    if level == "multi":
        distance = st.masi_distances(ratings.values)
        q = ratings.n_values  # AC1 over the distinct label sets seen
    else:
        distance = level  # "nominal" or "ordinal"
        q = len(ratings.categories)
    result = {
        "code": code,
        "name": name or code,
        "level": level,
        **_figures(
            ratings,
            names=names,
            alpha_distance=distance,
            distance_name=DISTANCE_NAMES[level],
            n_categories_ac1=q,
            resamples=resamples,
            seed=seed,
        ),
        "unknown_categories": ratings.unknown,
        "parent_level": None,
        "notes": [NOTES["masi"]] if level == "multi" else [],
    }
    parents = {c: p for c, p in (parents or {}).items() if p}
    if parents and result["items"]:
        result["parent_level"] = _parent_level(ratings, parents, names=names, resamples=resamples, seed=seed)
        result["notes"].append(NOTES["hierarchy"])
    return result


def _root_of(code: str, parents: dict[str, str]) -> str:
    seen = set()
    while code in parents and code not in seen:
        seen.add(code)
        code = parents[code]
    return code


def _parent_level(ratings: Ratings, parents: dict[str, str], *, names, resamples: int, seed: int) -> dict:
    roots = {code: _root_of(code, parents) for code in ratings.categories}
    root_order = list(dict.fromkeys(roots[c] for c in ratings.categories))
    mapped = ratings.mapped(roots, categories=root_order)
    if ratings.level == "multi":
        distance, distance_name, q = st.masi_distances(mapped.values), "masi", mapped.n_values
    else:
        distance, distance_name, q = ratings.level, ratings.level, len(root_order)
    figures = _figures(
        mapped,
        names=names,
        alpha_distance=distance,
        distance_name=distance_name,
        n_categories_ac1=q,
        resamples=resamples,
        seed=seed,
    )
    if ratings.level != "multi":
        # Partial credit at the parent level, on the categories as labelled.
        counts = ratings.counts()
        root_index = np.array([root_order.index(roots[c]) for c in ratings.values])
        partial = st.hierarchy_distances(root_index)
        alpha = st.krippendorff_alpha(counts, distance=partial)
        ci = bs.alpha_interval(counts, distance=partial, resamples=resamples, seed=seed)
        figures["krippendorff_alpha"] = _coefficient(
            alpha,
            ci95=_interval(ci),
            items=figures["krippendorff_alpha"]["items"],
            distance="hierarchical (0 same category, 0.5 same parent, 1 otherwise)",
            resamples=resamples,
        )
    return {"level": ratings.level, **figures}


def agreement_from_triples(
    triples: Iterable[tuple[int, str, object]],
    *,
    level: str,
    categories: list[str],
    code: str = "dimension",
    name: str = "",
    names: dict[str, str] | None = None,
    parents: dict[str, str | None] | None = None,
    resamples: int = bs.RESAMPLES,
    seed: int = bs.SEED,
) -> dict:
    """Agreement figures of one dimension from (item id, rater, value) triples. Pure: no database.

    ``level``: "nominal" (single choice), "ordinal" (``categories`` in scale order) or "multi"
    (a value is category codes joined by ';', or a list). ``categories``: the codebook's codes;
    ``parents``: {code: parent code} for a hierarchical codebook; ``names``: {code: name}.
    Empty values are no label. Bootstrap intervals use ``resamples`` resamples of the items from
    ``seed``. Returns one entry of the ``dimensions`` list of the study's agreement JSON.
    """
    ratings = Ratings.from_triples(triples, level=level, categories=categories)
    return ratings_agreement(
        ratings, code=code, name=name, names=names, parents=parents, resamples=resamples, seed=seed
    )
