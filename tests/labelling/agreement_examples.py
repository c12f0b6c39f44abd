"""Published worked examples for the agreement tests (data and the figures their authors give)."""

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin
# 76(5), 378-382, Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses. As in R's irr package
# (`diagnoses`) and statsmodels' tests: one row per patient, the 6 diagnoses given
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other).
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip
FLEISS_1971_CODES = ["depression", "personality_disorder", "schizophrenia", "neurosis", "other"]
FLEISS_1971_KAPPA = 0.430
# Fleiss (1971), per-category kappas (each diagnosis against the rest), as R irr's kappam.fleiss(detail=TRUE).
FLEISS_1971_CATEGORY_KAPPAS = [0.245, 0.245, 0.520, 0.471, 0.566]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers,
# 12 units, values 1-5, None = missing. Published: nominal 0.743, ordinal 0.815.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
KRIPPENDORFF_2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815}

# Gwet (2014), Handbook of Inter-Rater Reliability (4th ed.), the same 12 units rated by 4 raters
# (irrCAC's raw_4raters; the lone rating of unit 12 is rater 3's). Published: AC1 = 0.77544,
# pa = 0.81818, pe = 0.19032.
GWET_4RATERS = {
    "rater1": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "rater2": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    "rater3": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    "rater4": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
GWET_4RATERS_AC1 = 0.77544

# Cohen's kappa worked example (Wikipedia, "Cohen's kappa", example 1): 50 grant proposals read
# by A and B; both yes 20, A yes B no 5, A no B yes 10, both no 15. kappa = 0.4.
COHEN_TABLE = [[20, 5], [10, 15]]
COHEN_KAPPA = 0.4


def fleiss_triples():
    """(item, rater, code) triples of the Fleiss (1971) table; 'raters' are the columns."""
    return [
        (item + 1, f"psychiatrist{j + 1}", FLEISS_1971_CODES[value - 1])
        for item, row in enumerate(FLEISS_1971)
        for j, value in enumerate(row)
    ]


def coders_triples(data: dict[str, list]):
    return [(unit + 1, coder, str(v)) for coder, row in data.items() for unit, v in enumerate(row) if v is not None]
