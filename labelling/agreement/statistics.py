"""Agreement coefficients as pure functions over numpy arrays.

The inputs are a *count matrix* ``counts`` (items x values: how many annotators gave value v to
item i, the "value counts" of Krippendorff and the "table" of Fleiss) and, for the pairwise
figures, the two annotators' value indices on the items both labelled.

Where a vetted library computes the figure we call it: Fleiss' kappa (statsmodels
``fleiss_kappa``), Cohen's kappa and its weighted forms (statsmodels ``cohens_kappa`` on the
pair's contingency table, checked against scikit-learn's ``cohen_kappa_score`` in the tests),
the confusion matrix (scikit-learn ``confusion_matrix``). Krippendorff's alpha follows the coincidence-matrix
computation of the ``krippendorff`` package (Krippendorff 2011, "Computing Krippendorff's
alpha-reliability") but on *patterns* (distinct rows of ``counts``) with weights, so that a
study of 100,000 items and every bootstrap resample cost a few small matrix products; the tests
check it against ``krippendorff.alpha`` on random data at every level and on Krippendorff's
published example. Gwet's AC1 is our own code (irrCAC, the reference implementation, pins a
scipy that does not install beside our numpy); it is tested against Gwet's published figures.

A coefficient that is undefined (no item with two labels, one value only, chance agreement 1)
is ``nan``; the report turns it into ``null``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa as _statsmodels_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as _statsmodels_fleiss_kappa

NAN = float("nan")


@contextmanager
def _quiet():
    """Silence the 0/0 warnings of undefined coefficients (they become nan, reported as null)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


# --- count matrices and patterns -----------------------------------------------------------------


def value_counts(item_idx: np.ndarray, value_idx: np.ndarray, *, n_items: int, n_values: int) -> np.ndarray:
    """items x values matrix of label counts from one (item index, value index) pair per label."""
    flat = np.bincount(item_idx.astype(np.int64) * n_values + value_idx, minlength=n_items * n_values)
    return flat.reshape(n_items, n_values)


def patterns(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows of ``counts``, how many items have each): the statistics below depend on the
    rows only through these, so a resample of items is a resample of pattern frequencies."""
    if counts.shape[0] == 0:
        return counts.reshape(0, counts.shape[1]), np.zeros(0, dtype=np.int64)
    base = int(counts.max()) + 1
    if counts.shape[1] * np.log2(max(base, 2)) < 62:
        keys = counts.astype(np.int64) @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, freq = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], freq
    rows, freq = np.unique(counts, axis=0, return_counts=True)
    return rows, freq


Counts = np.ndarray | tuple[np.ndarray, np.ndarray]


def rows_and_freq(counts: Counts) -> tuple[np.ndarray, np.ndarray]:
    """``patterns(counts)``, or ``counts`` itself when it is already a (rows, frequencies) pair:
    the functions below take either, so a caller compresses a large matrix once."""
    return counts if isinstance(counts, tuple) else patterns(counts)


# --- percent agreement -----------------------------------------------------------------------------


def percent_agreement(counts: Counts) -> float:
    """Observed agreement: over items with >= 2 labels, the share of pairs of labels that are equal
    (Fleiss' P-bar; for two annotators, the share of items they label alike). Computed on the
    distinct rows of ``counts`` weighted by their frequency (the same mean, fewer rows)."""
    rows, freq = rows_and_freq(counts)
    m = rows.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return NAN
    c, m, w = rows[keep].astype(float), m[keep].astype(float), freq[keep]
    return float(np.average(((c * (c - 1)).sum(axis=1)) / (m * (m - 1)), weights=w))


# --- Fleiss' kappa ---------------------------------------------------------------------------------


def fleiss_subset(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """(mask of the items Fleiss' kappa uses, their number of labels each).

    Fleiss' kappa needs the same number of labels on every item: we take the items with the most
    common number of labels among those with at least two (on a tie, the larger number)."""
    m = counts.sum(axis=1)
    eligible = m[m >= 2]
    if eligible.size == 0:
        return np.zeros(len(m), dtype=bool), 0
    sizes, freq = np.unique(eligible, return_counts=True)
    best = int(sizes[np.flatnonzero(freq == freq.max())[-1]])
    return m == best, best


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa (statsmodels) of an items x categories table with equal row sums."""
    if table.shape[0] == 0:
        return NAN
    with _quiet():
        value = float(_statsmodels_fleiss_kappa(table, method="fleiss"))
    return value if np.isfinite(value) else NAN


def fleiss_kappa_weighted(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of the table that has ``weights[b, p]`` copies of ``rows[p]`` (equal row sums),
    for each row ``b`` of ``weights``: the bootstrap's vectorised form of ``fleiss_kappa``."""
    weights = np.atleast_2d(weights).astype(float)
    rows = rows.astype(float)
    m = rows.sum(axis=1)[0]
    n_items = weights.sum(axis=1)
    p_j = (weights @ rows) / (n_items * m)[:, None]
    p_i = ((rows * rows).sum(axis=1) - m) / (m * (m - 1))
    p_bar = (weights @ p_i) / n_items
    p_e = (p_j * p_j).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (p_bar - p_e) / (1 - p_e)


def category_kappas(table: np.ndarray, labels_per_item: int) -> np.ndarray:
    """Fleiss' (1971) kappa of each category against the rest: Fleiss' kappa of the two-column
    table [n_ij, m - n_ij], one per column of ``table`` (n_ij: the item's labels that hold category
    j; m: its number of labels, the same for every item). On the distinct rows with their
    frequencies (``fleiss_kappa_weighted``; the tests check it against statsmodels)."""
    rows, freq = patterns(table)
    kappas = []
    for j in range(table.shape[1]):
        binary = np.stack([rows[:, j], labels_per_item - rows[:, j]], axis=1)
        with _quiet():
            kappas.append(float(fleiss_kappa_weighted(binary, freq)[0]))
    return np.array([k if np.isfinite(k) else NAN for k in kappas])


# --- Krippendorff's alpha --------------------------------------------------------------------------


def nominal_distances(n_values: int) -> np.ndarray:
    return 1.0 - np.eye(n_values)


def ordinal_distances(n_v: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric for value margins ``n_v`` (..., V): (sum of n_g for g from c to
    k - (n_c + n_k) / 2) squared, as ``krippendorff._ordinal_metric``. Shape (..., V, V)."""
    n_v = np.asarray(n_v, dtype=float)
    cum = np.cumsum(n_v, axis=-1)
    lo_cum = cum - n_v  # sum of n_g for g < c
    # sum over g in [min(c,k), max(c,k)] = cum[max] - lo_cum[min]
    upper = np.maximum(cum[..., :, None], cum[..., None, :])
    lower = np.minimum(lo_cum[..., :, None], lo_cum[..., None, :])
    between = upper - lower
    return (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2


def krippendorff_alpha_weighted(
    rows: np.ndarray, weights: np.ndarray, *, distance: str | np.ndarray = "nominal"
) -> np.ndarray:
    """Krippendorff's alpha of the units ``rows`` (value counts, patterns) taken ``weights[b, p]``
    times, one alpha per row ``b`` of ``weights``.

    ``distance``: "nominal", "ordinal" (Krippendorff's rank metric, from the margins of each
    resample) or a V x V matrix of distances (MASI, Jaccard, partial credit in a hierarchy).
    Units with fewer than two labels are not pairable and count for nothing.
    """
    weights = np.atleast_2d(weights).astype(float)
    rows = rows.astype(float)
    n_values = rows.shape[1]
    m = rows.sum(axis=1)
    pairable = m >= 2
    per_unit = rows[:, :, None] * rows[:, None, :] - rows[:, :, None] * np.eye(n_values)[None]
    per_unit[pairable] /= (m[pairable] - 1)[:, None, None]
    per_unit[~pairable] = 0
    o = (weights @ per_unit.reshape(len(rows), -1)).reshape(-1, n_values, n_values)
    n_v = o.sum(axis=1)
    n = n_v.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (n_v[:, :, None] * n_v[:, None, :] - n_v[:, :, None] * np.eye(n_values)[None]) / (n - 1)[:, None, None]
        if isinstance(distance, str) and distance == "nominal":
            d = nominal_distances(n_values)[None]
        elif isinstance(distance, str) and distance == "ordinal":
            d = ordinal_distances(n_v)
        else:
            d = np.asarray(distance, dtype=float)[None]
        return 1 - (o * d).sum(axis=(1, 2)) / (e * d).sum(axis=(1, 2))


def krippendorff_alpha(counts: Counts, *, distance: str | np.ndarray = "nominal") -> float:
    """Krippendorff's alpha of the value counts ``counts`` (items x values) at ``distance``."""
    rows, freq = rows_and_freq(counts)
    if rows.shape[0] == 0 or not (rows.sum(axis=1) >= 2).any():
        return NAN
    value = float(krippendorff_alpha_weighted(rows, freq, distance=distance)[0])
    return value if np.isfinite(value) else NAN


def masi_distances(sets: list[frozenset]) -> np.ndarray:
    """MASI distance (Passonneau 2006) between every two label sets: 1 - J * M, with J the Jaccard
    index |A & B| / |A | B| and M = 1 (equal), 2/3 (one contains the other), 1/3 (they overlap),
    0 (disjoint), as NLTK's ``masi_distance``."""
    n = len(sets)
    d = np.zeros((n, n))
    for i, a in enumerate(sets):
        for j in range(i + 1, n):
            b = sets[j]
            inter, union = len(a & b), len(a | b)
            if a == b:
                monotonicity = 1.0
            elif a <= b or b <= a:
                monotonicity = 0.67
            elif inter:
                monotonicity = 0.33
            else:
                monotonicity = 0.0
            d[i, j] = d[j, i] = 1 - (inter / union if union else 1.0) * monotonicity
    return d


def hierarchy_distances(roots: np.ndarray) -> np.ndarray:
    """Partial credit in a hierarchy: 0 for the same category, 0.5 for two categories under the same
    top-level parent (a sub-category and its parent, or two sub-categories of one parent), 1 else."""
    same_root = roots[:, None] == roots[None, :]
    d = np.where(same_root, 0.5, 1.0)
    np.fill_diagonal(d, 0.0)
    return d


# --- Gwet's AC1 ------------------------------------------------------------------------------------


def gwet_ac1(counts: Counts, *, n_categories: int | None) -> float:
    """Gwet's (2008) AC1 for any number of annotators and missing labels (Gwet 2014, ch. 2):
    agreement pa over the items with >= 2 labels as in Fleiss; chance agreement
    pe = sum_k pi_k (1 - pi_k) / (q - 1), with pi_k the mean over the items with >= 1 label of the
    share of the item's labels in category k, and q the number of categories (the codebook's)."""
    rows, freq = rows_and_freq(counts)
    q = n_categories or rows.shape[1]
    m = rows.sum(axis=1)
    rated, paired = m >= 1, m >= 2
    if not paired.any() or q < 2:
        return NAN
    pa = percent_agreement((rows, freq))
    pi = np.average(rows[rated] / m[rated][:, None], axis=0, weights=freq[rated])
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    if pe >= 1:
        return NAN
    return float((pa - pe) / (1 - pe))


# --- pairs of annotators ---------------------------------------------------------------------------


def contingency(y1: np.ndarray, y2: np.ndarray, *, n_values: int) -> np.ndarray:
    """n_values x n_values table of two annotators' value indices (rows the first's)."""
    return np.bincount(y1 * n_values + y2, minlength=n_values * n_values).reshape(n_values, n_values)


def cohen_kappa(table: np.ndarray, *, weights: str | None = None) -> float:
    """Cohen's kappa (statsmodels ``cohens_kappa``) of a two-annotator contingency table; ``weights``
    "linear" or "quadratic" (Cohen 1968) for an ordinal scale, rows and columns in scale order.
    The tests check it against scikit-learn's ``cohen_kappa_score`` on the raw labels."""
    if table.sum() == 0:
        return NAN
    with _quiet():
        value = float(_statsmodels_cohens_kappa(table, wt=weights, return_results=False))
    return value if np.isfinite(value) else NAN


def cohen_kappa_interval(table: np.ndarray) -> tuple[float, float]:
    """Analytic 95% interval of the unweighted Cohen's kappa (statsmodels: asymptotic standard
    error, Fleiss, Cohen & Everitt 1969); nan where undefined."""
    if table.sum() == 0:
        return NAN, NAN
    with _quiet():
        result = _statsmodels_cohens_kappa(table)
        low, high = float(result.kappa_low), float(result.kappa_upp)
    if not (np.isfinite(low) and np.isfinite(high)):
        return NAN, NAN
    return low, high


def confusion(y1: np.ndarray, y2: np.ndarray, *, n_values: int) -> np.ndarray:
    """Confusion matrix (scikit-learn): rows the first annotator's values, columns the second's."""
    if len(y1) == 0:
        return np.zeros((n_values, n_values), dtype=int)
    # Imported here: scikit-learn (with pandas and scipy's sparse modules, ~16 MB) is needed by the
    # pair confusion only, not by every process that computes agreement (a release, a worker).
    from sklearn.metrics import confusion_matrix

    with _quiet():  # one category only: scikit-learn warns, the matrix is still right
        return confusion_matrix(y1, y2, labels=np.arange(n_values))
