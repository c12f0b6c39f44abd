"""Agreement statistics (labelling/agreement/): every figure against a published worked example and
an independent computation (krippendorff.alpha, statsmodels, a loop written from the formula)."""

from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from labelling.agreement import bands
from labelling.agreement import bootstrap as bs
from labelling.agreement import statistics as st
from labelling.agreement.ratings import Ratings
from labelling.agreement.report import agreement_from_triples
from tests.labelling import agreement_examples as ex

FIVE = ["1", "2", "3", "4", "5"]


# --- published worked examples -------------------------------------------------------------------


def test_fleiss_1971_table_gives_the_published_kappa_and_category_kappas():
    result = agreement_from_triples(ex.fleiss_triples(), level="nominal", categories=ex.FLEISS_1971_CODES)
    fleiss = result["fleiss_kappa"]
    assert round(fleiss["value"], 3) == ex.FLEISS_1971_KAPPA
    assert fleiss["items"] == 30 and fleiss["labels_per_item"] == 6
    assert fleiss["band"] == "moderate"
    assert [round(c["kappa"], 3) for c in result["categories"]] == ex.FLEISS_1971_CATEGORY_KAPPAS
    assert (result["items"], result["raters"], result["labels"]) == (30, 6, 180)
    lo, hi = fleiss["ci95"]
    assert lo < fleiss["value"] < hi and fleiss["resamples"] == bs.RESAMPLES


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_krippendorff_2011_example_gives_the_published_alpha(level):
    result = agreement_from_triples(ex.coders_triples(ex.KRIPPENDORFF_2011), level=level, categories=FIVE)
    alpha = result["krippendorff_alpha"]
    assert round(alpha["value"], 3) == ex.KRIPPENDORFF_2011_ALPHA[level]
    assert alpha["distance"] == level
    assert alpha["items"] == 11  # unit 12 has one value: not pairable
    assert result["items_with_one_label"] == 1


def test_gwet_4raters_gives_the_published_ac1():
    result = agreement_from_triples(ex.coders_triples(ex.GWET_4RATERS), level="nominal", categories=FIVE)
    assert round(result["gwet_ac1"]["value"], 5) == ex.GWET_4RATERS_AC1
    assert round(result["percent_agreement"], 5) == 0.81818  # Gwet's pa


def test_cohen_worked_example_gives_kappa_0_4():
    triples = []
    item = 0
    for a, row in enumerate(ex.COHEN_TABLE):
        for b, n in enumerate(row):
            for _ in range(n):
                item += 1
                triples += [(item, "A", ["yes", "no"][a]), (item, "B", ["yes", "no"][b])]
    result = agreement_from_triples(triples, level="nominal", categories=["yes", "no"])
    (pair,) = result["cohen_kappa"]
    assert pair["raters"] == ["A", "B"] and pair["items"] == 50
    assert pair["value"] == pytest.approx(ex.COHEN_KAPPA)
    assert pair["percent_agreement"] == pytest.approx(0.7)
    assert pair["linear_weighted"] is None and pair["quadratic_weighted"] is None  # nominal
    low, high = pair["ci95"]  # analytic (statsmodels): around the estimate
    assert low < 0.4 < high and high - low == pytest.approx(2 * (0.4 - low))


# --- against independent computations ------------------------------------------------------------


def _random_reliability(rng, raters=4, units=80, values=5, missing=0.3):
    data = rng.integers(0, values, size=(raters, units)).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    return data


def _triples(data):
    return [(u, f"r{c}", str(int(v))) for c in range(data.shape[0]) for u, v in enumerate(data[c]) if not np.isnan(v)]


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_equals_the_krippendorff_package_on_random_data(level, seed):
    data = _random_reliability(np.random.default_rng(seed))
    expected = krippendorff.alpha(reliability_data=data, value_domain=np.arange(5), level_of_measurement=level)
    result = agreement_from_triples(_triples(data), level=level, categories=[str(i) for i in range(5)], resamples=0)
    assert result["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-12)


def test_multi_choice_alpha_uses_masi_and_equals_the_krippendorff_package_with_that_metric():
    rng = np.random.default_rng(5)
    codes = ["a", "b", "c"]
    sets = [frozenset(s) for n in (1, 2, 3) for s in itertools.combinations(codes, n)]
    triples = [(u, f"r{r}", ";".join(sorted(sets[rng.integers(len(sets))]))) for u in range(60) for r in range(3)]
    triples = [t for t in triples if rng.random() > 0.2]
    ratings = Ratings.from_triples(triples, level="multi", categories=codes)
    distances = st.masi_distances(ratings.values)

    def masi(v1, v2, i1, i2, n_v, dtype=np.float64):
        return distances[i1, i2]

    reliability = np.full((3, ratings.n_items), np.nan)
    reliability[ratings.rater_idx, ratings.item_idx] = ratings.value_idx
    expected = krippendorff.alpha(
        reliability_data=reliability, value_domain=np.arange(ratings.n_values), level_of_measurement=masi
    )
    result = agreement_from_triples(triples, level="multi", categories=codes, resamples=0)
    assert result["krippendorff_alpha"]["distance"] == "masi"
    assert result["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-12)


def test_masi_distance_values():
    a, ab, bc, c = frozenset("a"), frozenset("ab"), frozenset("bc"), frozenset("c")
    d = st.masi_distances([a, ab, bc, c])
    assert d[0, 0] == 0
    assert d[0, 1] == pytest.approx(1 - 0.5 * 0.67)  # subset: J = 1/2, M = 2/3 (NLTK's 0.67)
    assert d[1, 2] == pytest.approx(1 - (1 / 3) * 0.33)  # overlap: J = 1/3, M = 1/3
    assert d[0, 3] == 1  # disjoint


@pytest.mark.parametrize("seed", [1, 2])
def test_fleiss_on_the_same_items_equals_statsmodels_and_uses_the_commonest_label_count(seed):
    rng = np.random.default_rng(seed)
    data = _random_reliability(rng, raters=3, units=200, values=4, missing=0.15)
    counts = np.stack([(data == k).sum(axis=0) for k in range(4)], axis=1)
    m = counts.sum(axis=1)
    sizes, freq = np.unique(m[m >= 2], return_counts=True)
    commonest = sizes[np.argmax(freq)]
    expected = statsmodels_fleiss_kappa(counts[m == commonest], method="fleiss")
    result = agreement_from_triples(_triples(data), level="nominal", categories=["0", "1", "2", "3"], resamples=0)
    assert result["fleiss_kappa"]["labels_per_item"] == commonest
    assert result["fleiss_kappa"]["items"] == int((m == commonest).sum())
    assert result["fleiss_kappa"]["value"] == pytest.approx(expected, abs=1e-12)


def test_category_kappas_equal_statsmodels_on_the_binary_tables():
    rng = np.random.default_rng(4)
    ratings = rng.integers(0, 4, (150, 5))
    table = np.stack([(ratings == k).sum(axis=1) for k in range(4)], axis=1)
    expected = [statsmodels_fleiss_kappa(np.stack([table[:, j], 5 - table[:, j]], axis=1)) for j in range(4)]
    assert st.category_kappas(table, 5) == pytest.approx(expected, abs=1e-12)


def _ac1_by_the_formula(data: np.ndarray, q: int) -> float:
    """Gwet (2014, eq. 2.5.x) written out with loops: pa over units with >= 2 ratings, pi over units
    with >= 1 rating, pe = sum pi_k (1 - pi_k) / (q - 1)."""
    units = [[int(v) for v in data[:, u] if not np.isnan(v)] for u in range(data.shape[1])]
    paired = [u for u in units if len(u) >= 2]
    pa = sum(sum(u.count(k) * (u.count(k) - 1) for k in range(q)) / (len(u) * (len(u) - 1)) for u in paired)
    pa /= len(paired)
    rated = [u for u in units if u]
    pi = [sum(u.count(k) / len(u) for u in rated) / len(rated) for k in range(q)]
    pe = sum(p * (1 - p) for p in pi) / (q - 1)
    return (pa - pe) / (1 - pe)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ac1_equals_the_formula_written_out(seed):
    data = _random_reliability(np.random.default_rng(seed), raters=4, units=50, values=4)
    result = agreement_from_triples(_triples(data), level="nominal", categories=["0", "1", "2", "3"], resamples=0)
    assert result["gwet_ac1"]["value"] == pytest.approx(_ac1_by_the_formula(data, 4), abs=1e-12)
    assert result["gwet_ac1"]["categories"] == 4


def test_ac1_stays_high_where_kappa_collapses_when_one_category_dominates():
    # 100 items, two screeners, 96 both "include", 2 + 2 one each way: the kappa paradox.
    triples = []
    for i in range(100):
        a, b = ("in", "in") if i < 96 else (("in", "out") if i < 98 else ("out", "in"))
        triples += [(i, "s1", a), (i, "s2", b)]
    result = agreement_from_triples(triples, level="nominal", categories=["in", "out"], resamples=0)
    assert result["cohen_kappa"][0]["value"] < 0
    assert result["gwet_ac1"]["value"] > 0.9


def test_cohen_kappa_and_its_weighted_forms_equal_scikit_learn_on_an_ordinal_scale():
    rng = np.random.default_rng(11)
    levels = ["none", "low", "medium", "high", "critical"]
    truth = rng.integers(0, 5, 120)
    other = np.clip(truth + rng.integers(-1, 2, 120), 0, 4)
    triples = [(i, "alice", levels[t]) for i, t in enumerate(truth)] + [
        (i, "bob", levels[o]) for i, o in enumerate(other)
    ]
    result = agreement_from_triples(triples, level="ordinal", categories=levels, resamples=0)
    (pair,) = result["cohen_kappa"]
    labels = list(range(5))
    assert pair["value"] == pytest.approx(cohen_kappa_score(truth, other, labels=labels))
    assert pair["linear_weighted"] == pytest.approx(cohen_kappa_score(truth, other, labels=labels, weights="linear"))
    assert pair["quadratic_weighted"] == pytest.approx(
        cohen_kappa_score(truth, other, labels=labels, weights="quadratic")
    )
    assert pair["quadratic_weighted"] > pair["value"]  # near misses get credit


# --- what counts as a label -----------------------------------------------------------------------


def test_an_annotator_who_was_not_asked_is_neither_a_disagreement_nor_missing():
    # carol labels only item 3; items 1-2 are alice and bob's, who agree.
    triples = [(1, "alice", "x"), (1, "bob", "x"), (2, "alice", "y"), (2, "bob", "y"), (3, "carol", "x")]
    result = agreement_from_triples(triples, level="nominal", categories=["x", "y"], resamples=0)
    assert result["items"] == 2 and result["raters"] == 2 and result["labels"] == 4
    assert result["items_with_one_label"] == 1
    assert result["percent_agreement"] == 1.0
    assert result["fleiss_kappa"]["value"] == 1.0
    assert [p["raters"] for p in result["cohen_kappa"]] == [["alice", "bob"]]  # carol shares no item


def test_empty_values_are_no_label_and_unknown_codes_are_kept_apart():
    triples = [(1, "alice", "x"), (1, "bob", ""), (2, "alice", "x"), (2, "bob", "gone")]
    result = agreement_from_triples(triples, level="nominal", categories=["x", "y"], resamples=0)
    assert result["items"] == 1 and result["unknown_categories"] == ["gone"]


def test_undefined_figures_are_null_not_nan():
    triples = [(1, "a", "x"), (1, "b", "x"), (2, "a", "x"), (2, "b", "x")]
    result = agreement_from_triples(triples, level="nominal", categories=["x", "y"], resamples=50)
    assert result["percent_agreement"] == 1.0
    assert result["fleiss_kappa"]["value"] is None and result["fleiss_kappa"]["band"] is None
    assert result["krippendorff_alpha"]["value"] is None and result["krippendorff_alpha"]["ci95"] is None
    assert result["cohen_kappa"][0]["value"] is None


def test_a_rater_twice_on_one_item_is_refused():
    with pytest.raises(ValueError, match="twice"):
        Ratings.from_triples([(1, "a", "x"), (1, "a", "y")], level="nominal", categories=["x", "y"])


# --- hierarchy ------------------------------------------------------------------------------------


def test_parent_level_counts_a_sub_category_as_its_parent_and_gives_partial_credit_in_alpha():
    categories = ["api", "api_wrong_arg", "api_deprecated", "memory"]
    parents = {"api_wrong_arg": "api", "api_deprecated": "api"}
    triples = []
    pairs = [("api", "api_wrong_arg"), ("api_wrong_arg", "api_deprecated"), ("memory", "memory"), ("api", "api")]
    for i, (a, b) in enumerate(pairs * 5):
        triples += [(i, "alice", a), (i, "bob", b)]
    result = agreement_from_triples(triples, level="nominal", categories=categories, parents=parents, resamples=0)
    parent = result["parent_level"]
    assert parent["percent_agreement"] == 1.0  # every pair has the same top-level category
    assert [c["code"] for c in parent["categories"]] == ["api", "memory"]
    assert result["percent_agreement"] == 0.5
    # Alpha at the parent level: partial (0.5) distance for the sub-category pairs, not full.
    alpha = parent["krippendorff_alpha"]
    assert alpha["distance"].startswith("hierarchical")
    ratings = Ratings.from_triples(triples, level="nominal", categories=categories)
    reliability = np.full((2, ratings.n_items), np.nan)
    reliability[ratings.rater_idx, ratings.item_idx] = ratings.value_idx
    partial = st.hierarchy_distances(np.array([0, 0, 0, 1]))

    def metric(v1, v2, i1, i2, n_v, dtype=np.float64):
        return partial[i1, i2]

    expected = krippendorff.alpha(reliability_data=reliability, value_domain=np.arange(4), level_of_measurement=metric)
    assert alpha["value"] == pytest.approx(expected)
    full = result["krippendorff_alpha"]["value"]
    assert full < alpha["value"] < 1


def test_no_parent_level_without_a_hierarchy():
    result = agreement_from_triples(ex.fleiss_triples(), level="nominal", categories=ex.FLEISS_1971_CODES)
    assert result["parent_level"] is None


# --- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_with_the_seed_and_changes_with_it():
    triples = ex.fleiss_triples()
    one = agreement_from_triples(triples, level="nominal", categories=ex.FLEISS_1971_CODES, seed=7)
    two = agreement_from_triples(triples, level="nominal", categories=ex.FLEISS_1971_CODES, seed=7)
    other = agreement_from_triples(triples, level="nominal", categories=ex.FLEISS_1971_CODES, seed=8)
    assert one["fleiss_kappa"]["ci95"] == two["fleiss_kappa"]["ci95"]
    assert one["krippendorff_alpha"]["ci95"] == two["krippendorff_alpha"]["ci95"]
    assert one["fleiss_kappa"]["ci95"] != other["fleiss_kappa"]["ci95"]


def test_a_resample_of_pattern_frequencies_is_the_statistic_of_those_items():
    """The vectorised statistic on weights equals the library on the materialised items."""
    rng = np.random.default_rng(3)
    ratings = rng.integers(0, 4, (300, 3))
    counts = np.stack([(ratings == k).sum(axis=1) for k in range(4)], axis=1)
    rows, freq = st.patterns(counts)
    weights = rng.multinomial(freq.sum(), freq / freq.sum(), size=5)
    for w in weights:
        items = np.repeat(rows, w, axis=0)
        assert st.fleiss_kappa_weighted(rows, w)[0] == pytest.approx(statsmodels_fleiss_kappa(items))
        expected = krippendorff.alpha(value_counts=items, level_of_measurement="ordinal")
        assert st.krippendorff_alpha_weighted(rows, w, distance="ordinal")[0] == pytest.approx(expected)


def test_bootstrap_interval_is_close_to_a_plain_item_bootstrap():
    """Same distribution as resampling item indices (a slow, obvious bootstrap), up to Monte Carlo error."""
    counts = np.array([np.bincount(np.array(row) - 1, minlength=5) for row in ex.FLEISS_1971])
    ours, _ = bs.intervals(counts, labels_per_item=6, resamples=2000, seed=1)
    rng = np.random.default_rng(2)
    plain = [statsmodels_fleiss_kappa(counts[rng.integers(0, 30, 30)]) for _ in range(2000)]
    lo, hi = np.percentile(plain, [2.5, 97.5])
    assert ours.low == pytest.approx(lo, abs=0.03) and ours.high == pytest.approx(hi, abs=0.03)
    assert ours.resamples == 2000


# --- bands ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, name",
    [(-0.1, "poor"), (0.0, "slight"), (0.2, "slight"), (0.21, "fair"), (0.4, "fair"), (0.41, "moderate"),
     (0.6, "moderate"), (0.61, "substantial"), (0.8, "substantial"), (0.81, "almost perfect"), (1.0, "almost perfect"),
     (None, None)],
)  # fmt: skip
def test_landis_koch_bands(value, name):
    assert bands.band(value) == name
    assert "Landis" in bands.CITATION and "1977" in bands.CITATION
