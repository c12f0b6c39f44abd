"""The study's Agreement page: every figure with its interval, band and items used (owners and
viewers), and the confusion matrix of a chosen pair of annotators; the figures of one calibration
round (and pass) with ``?round=ID&pass=N``, and a table of every round's headline figures."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from config.errors import ApplicationError
from labelling.agreement import bands
from labelling.agreement.render import coefficient_rows
from labelling.agreement.selectors import codebook_version_parse, pair_confusion, rounds_agreement, study_agreement
from labelling.permissions import can_view_agreement, role_in, study_for
from labelling.selectors.codebook import codebook_history
from labelling.selectors.results import study_results_pin
from labelling.selectors.rounds import round_and_pass_param, rounds_of


def _confusion_form(request, study, result):
    """The pair picked in the GET form (dimension, rater_a, rater_b) and its matrix or its errors."""
    choice = {k: request.GET.get(k, "").strip() for k in ("dimension", "rater_a", "rater_b")}
    form = {"values": choice, "errors": [], "confusion": None}
    if not any(choice.values()):
        return form
    missing = [k.replace("_", " ") for k, v in choice.items() if not v]
    if missing:
        form["errors"].append(f"Pick {', '.join(missing)} to see a confusion matrix.")
        return form
    try:
        confusion = pair_confusion(
            study=study, dimension_code=choice["dimension"], rater_a=choice["rater_a"], rater_b=choice["rater_b"]
        )
    except ApplicationError as exc:
        form["errors"].append(exc.message)
        return form
    confusion["rows"] = [
        {"name": name, "value": value, "cells": cells}
        for name, value, cells in zip(confusion["names"], confusion["values"], confusion["matrix"], strict=True)
    ]
    form["confusion"] = confusion
    return form


@login_required
@require_safe
def agreement(request, slug):
    study = study_for(request.user, slug, check=can_view_agreement)
    study_results_pin(study)  # a read-only page: one read of the results token
    version_error = ""
    try:
        version = codebook_version_parse(study, request.GET.get("codebook_version"))
    except ApplicationError as exc:
        version, version_error = None, exc.message
    round_error = ""
    try:
        round_, pass_number = round_and_pass_param(
            study=study, round_raw=request.GET.get("round"), pass_raw=request.GET.get("pass")
        )
    except ApplicationError as exc:
        round_, pass_number, round_error = None, None, exc.message
    try:
        result = study_agreement(study=study, codebook_version=version, round=round_, pass_number=pass_number)
    except ApplicationError as exc:  # an earlier pass of a round has no codebook versions
        version, version_error = None, exc.message
        result = study_agreement(study=study, round=round_, pass_number=pass_number)
    dimensions = []
    raters = set()
    for d in result["dimensions"]:
        entry = {"d": d}
        if not d.get("skipped"):
            entry["rows"] = coefficient_rows(d)
            entry["parent_rows"] = coefficient_rows(d["parent_level"]) if d.get("parent_level") else None
            entry["used_categories"] = [c for c in d["categories"] if c["labels"]]
            entry["unused_categories"] = len(d["categories"]) - len(entry["used_categories"])
            for pair in d["cohen_kappa"]:
                raters.update(pair["raters"])
        dimensions.append(entry)
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "result": result,
        "dimensions": dimensions,
        "choice_dimensions": [d for d in result["dimensions"] if not d.get("skipped")],
        "raters": sorted(raters),
        "form": _confusion_form(request, study, result),
        "rounds": list(rounds_of(study=study)),
        "round": round_,
        "round_error": round_error,
        "rounds_figures": rounds_agreement(study=study),
        "legend": bands.legend(),
        "citation": bands.CITATION,
        "alpha_advice": bands.KRIPPENDORFF_ADVICE,
        "codebook_version": version,
        "version_error": version_error,
        "codebook_events": codebook_history(study=study)[:200],
        "any_figures": any(not d.get("skipped") and d["items"] for d in result["dimensions"]),
    }
    return render(request, "labelling/agreement.html", context, status=400 if version_error or round_error else 200)
