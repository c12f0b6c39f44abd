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

from collections.abc import Callable
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


def bootstrap(
    counts: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Percentile 95% interval of ``statistic(rows, weights)`` over ``resamples`` item resamples.

    ``statistic`` takes the distinct rows of ``counts`` and a (B, P) matrix of pattern frequencies
    and returns B values (``fleiss_kappa_weighted``, ``krippendorff_alpha_weighted``). The same
    ``seed`` and data give the same interval.
    """
    if resamples <= 0 or counts.shape[0] == 0:
        return Interval(st.NAN, st.NAN, max(resamples, 0), 0)
    rows, freq = st.patterns(counts)
    n_items = int(freq.sum())
    rng = np.random.default_rng(seed)
    shares = freq / n_items
    values = []
    for start in range(0, resamples, BATCH):
        size = min(BATCH, resamples - start)
        weights = rng.multinomial(n_items, shares, size=size)
        values.append(np.asarray(statistic(rows, weights), dtype=float))
    return _percentile_interval(np.concatenate(values), resamples)


def fleiss_interval(table: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    return bootstrap(table, st.fleiss_kappa_weighted, resamples=resamples, seed=seed)


def alpha_interval(counts: np.ndarray, *, distance="nominal", resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    pairable = counts[counts.sum(axis=1) >= 2]
    return bootstrap(
        pairable,
        lambda rows, w: st.krippendorff_alpha_weighted(rows, w, distance=distance),
        resamples=resamples,
        seed=seed,
    )
