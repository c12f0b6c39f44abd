"""Interpretation bands of an agreement coefficient (Landis & Koch, 1977).

Landis and Koch proposed the bands for kappa; they are the ones most papers quote for any
chance-corrected coefficient (Fleiss' kappa, Krippendorff's alpha, Gwet's AC1), so one table
serves all figures here. Krippendorff (2004, p. 241) gives stricter advice for his alpha:
rely on data with alpha >= 0.800, draw tentative conclusions only from alpha >= 0.667.
"""

from __future__ import annotations

import math

CITATION = (
    "Landis, J. R., & Koch, G. G. (1977). The measurement of observer agreement for categorical data. "
    "Biometrics, 33(1), 159-174. https://doi.org/10.2307/2529310"
)
KRIPPENDORFF_ADVICE = (
    "Krippendorff, K. (2004). Content Analysis: An Introduction to Its Methodology (2nd ed., p. 241): "
    "rely on alpha >= 0.800; tentative conclusions only for 0.667 <= alpha < 0.800."
)

# (upper bound inclusive, band); a value below 0 is "poor".
BANDS = [
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.00, "almost perfect"),
]


def band(value: float | None) -> str | None:
    """The Landis & Koch band of ``value``: poor (< 0), slight (0-0.20), fair (0.21-0.40),
    moderate (0.41-0.60), substantial (0.61-0.80), almost perfect (0.81-1.00). None for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value < 0:
        return "poor"
    for upper, name in BANDS:
        if value <= upper + 1e-12:
            return name
    return BANDS[-1][1]


def legend() -> list[dict]:
    """The bands as rows for a page or the JSON: [{band, from, to}]."""
    rows = [{"band": "poor", "from": None, "to": 0.0}]
    lower = 0.0
    for upper, name in BANDS:
        rows.append({"band": name, "from": lower, "to": upper})
        lower = upper
    return rows
