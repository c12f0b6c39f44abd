"""Bootstrap confidence intervals over items, seeded and vectorised.

Resampling N items with replacement, the number of draws that fall on items of each *pattern*
(a distinct row of the items x values count matrix) is multinomial with the patterns' shares as
probabilities. Every coefficient here depends on the items only through their patterns, so a
resample is one multinomial draw of pattern frequencies and its coefficient a few matrix
products (``statistics.*_weighted``): exactly the item bootstrap, at a cost that does not grow
with the number of items. The interval is the percentile interval (2.5th and 97.5th percentiles
of the resampled coefficients; resamples where the coefficient is undefined are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelling.agreement import statistics as st

RESAMPLES = 1000
SEED = 20260101
BATCH = 250  # resamples per matrix product: bounds memory for many patterns


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    resamples: int  # resamples drawn
    used: int  # resamples where the coefficient was defined

    def as_list(self) -> list[float] | None:
        if not self.used:
            return None
        return [self.low, self.high]


def _percentile_interval(values: np.ndarray, resamples: int) -> Interval:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Interval(st.NAN, st.NAN, resamples, 0)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Interval(float(low), float(high), resamples, int(finite.size))


def resample_weights(counts: st.Counts, *, resamples: int, seed: int):
    """(distinct rows of ``counts``, a (resamples, rows) matrix of their frequencies in each item
    resample). Deterministic for a seed; drawn in batches of ``BATCH`` resamples."""
    rows, freq = st.rows_and_freq(counts)
    n_items = int(freq.sum())
    rng = np.random.default_rng(seed)
    shares = freq / n_items
    batches = [
        rng.multinomial(n_items, shares, size=min(BATCH, resamples - start)) for start in range(0, resamples, BATCH)
    ]
    return rows, np.concatenate(batches) if batches else np.zeros((0, len(rows)), dtype=np.int64)


def intervals(
    counts: st.Counts,
    *,
    labels_per_item: int,
    distance="nominal",
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[Interval, Interval]:
    """95% intervals of (Fleiss' kappa, Krippendorff's alpha) from the same ``resamples`` resamples
    of the items with >= 2 labels.

    In each resample Krippendorff's alpha uses every item drawn and Fleiss' kappa the items drawn
    that have ``labels_per_item`` labels (the number the estimate itself uses), so each interval
    is the bootstrap of the estimator as it is defined. The same ``seed`` and data give the same
    intervals.
    """
    rows, freq = st.rows_and_freq(counts)
    pairable = rows.sum(axis=1) >= 2
    if resamples <= 0 or not pairable.any():
        empty = Interval(st.NAN, st.NAN, max(resamples, 0), 0)
        return empty, empty
    rows, weights = resample_weights((rows[pairable], freq[pairable]), resamples=resamples, seed=seed)
    alphas = st.krippendorff_alpha_weighted(rows, weights, distance=distance)
    same = rows.sum(axis=1) == labels_per_item
    if same.any():
        kappas = st.fleiss_kappa_weighted(rows[same], weights[:, same])
    else:
        kappas = np.full(resamples, np.nan)
    return _percentile_interval(kappas, resamples), _percentile_interval(alphas, resamples)


def alpha_interval(counts: np.ndarray, *, distance="nominal", resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """95% interval of Krippendorff's alpha alone (e.g. with another distance on the same items)."""
    return intervals(counts, labels_per_item=0, distance=distance, resamples=resamples, seed=seed)[1]
