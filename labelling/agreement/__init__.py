"""Inter-annotator agreement (issue 12): the figures a paper reports, computed here.

* ``ratings``: who gave which value to which item, for one dimension, as numpy arrays; read from
  the database in one aggregated query for all dimensions (``dimensions_ratings``).
* ``statistics``: the coefficients as pure functions over count matrices (statsmodels,
  scikit-learn, the ``krippendorff`` package's formulas; Gwet's AC1).
* ``bootstrap``: seeded percentile intervals over items, one multinomial draw per resample.
* ``bands``: Landis & Koch (1977) bands and the citation.
* ``report``: one dimension's JSON; ``agreement_from_triples`` is the pure entry point, from
  (item id, rater, value) triples, for any caller (e.g. screening votes as a pseudo-dimension).
* ``selectors``: the study's JSON (``study_agreement``) and a pair's confusion matrix, shared by
  the page, the API, ``manage.py agreement`` and ``export_study``.
* ``render``: the JSON as text (pretty JSON, the command's table).
"""

from labelling.agreement.report import agreement_from_triples

__all__ = ["agreement_from_triples"]
