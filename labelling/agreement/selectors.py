"""Agreement of a study, read from the database: the one read the page, the API, the command and
the export share. Access is the caller's business (``labelling.permissions.can_view_agreement``)."""

from __future__ import annotations

from config.errors import ApplicationError
from labelling.agreement import bands
from labelling.agreement import bootstrap as bs
from labelling.agreement import statistics as st
from labelling.agreement.ratings import Ratings, dimension_ratings, dimensions_ratings
from labelling.agreement.report import ratings_agreement
from labelling.models import CalibrationRound, Dimension, Study
from labelling.selectors.labelling import CodebookDimension, codebook_for_labelling
from labelling.selectors.results import study_results_cached
from labelling.selectors.rounds import round_labels, round_passes, rounds_of
from labelling.selectors.screening import screening_ratings

LEVELS = {Dimension.Kind.SINGLE: "nominal", Dimension.Kind.ORDINAL: "ordinal", Dimension.Kind.MULTI: "multi"}
# Screening by several screeners is agreed on like a dimension: its include/exclude votes.
SCREENING = "screening"
SCREENING_VALUES = ["include", "exclude"]
SCREENING_NAMES = {"include": "Include", "exclude": "Exclude"}
TEXT_SKIPPED = "Free-text dimension: there are no categories to agree on, so no agreement figure is computed."


def screens_by_several(study: Study) -> bool:
    """Whether the study's screening has agreement figures: several screeners per item (its
    votes are then agreed on like a dimension coded ``screening``), and no codebook dimension
    already uses that code."""
    return study.screening_overlap > 1 and not Dimension.objects.filter(codebook__study=study, code=SCREENING).exists()


def _dimensions(study: Study, dimension_codes: list[str] | None) -> list[CodebookDimension]:
    """The codebook dimensions named by ``dimension_codes`` (all when none is named); ``screening``
    is accepted too when the study screens by several screeners (it is not a codebook dimension)."""
    codebook = codebook_for_labelling(study=study)
    if not dimension_codes:
        return codebook
    known = {d.dimension.code: d for d in codebook}
    screening = screens_by_several(study)
    unknown = [c for c in dimension_codes if c not in known and not (screening and c == SCREENING)]
    if unknown:
        valid = ", ".join([*known, *([SCREENING] if screening else [])]) or "(the codebook has no dimensions yet)"
        raise ApplicationError(
            f"Unknown dimension {', '.join(repr(c) for c in unknown)}: use one of {valid}.",
            details=[{"field": "dimension", "message": f"Choose from: {valid}."}],
        )
    return [known[c] for c in dict.fromkeys(dimension_codes) if c in known]


def _screening_ratings(study: Study) -> Ratings:
    return Ratings.from_triples(screening_ratings(study=study), level="nominal", categories=SCREENING_VALUES)


def screening_agreement(*, study: Study, resamples: int = bs.RESAMPLES, seed: int = bs.SEED) -> dict:
    """The screeners' agreement on include/exclude, one entry like a dimension's (code ``screening``)."""
    return {
        **ratings_agreement(
            _screening_ratings(study),
            code=SCREENING,
            name="Screening (include or exclude)",
            names=SCREENING_NAMES,
            resamples=resamples,
            seed=seed,
        ),
        "source": "screening votes",
    }


def _spec(entry: CodebookDimension):
    return (entry.dimension, LEVELS[entry.dimension.kind], [c.code for c in entry.categories])


def dimension_agreement(
    *, entry: CodebookDimension, ratings=None, resamples: int = bs.RESAMPLES, seed: int = bs.SEED
) -> dict:
    """One dimension's figures (``ratings``: its labels, read here when not given)."""
    dimension = entry.dimension
    if dimension.kind == Dimension.Kind.TEXT:
        return {"code": dimension.code, "name": dimension.name, "level": "text", "skipped": TEXT_SKIPPED}
    categories = entry.categories
    by_id = {c.id: c.code for c in categories}
    parents = {c.code: by_id.get(c.parent_id) for c in categories}
    if ratings is None:
        ratings = dimensions_ratings([_spec(entry)])[dimension.pk]
    return ratings_agreement(
        ratings,
        code=dimension.code,
        name=dimension.name,
        names={c.code: c.name for c in categories},
        parents=parents,
        resamples=resamples,
        seed=seed,
    )


CODEBOOK_VERSION_NOTE = (
    "Only the labels that their annotators last saved under codebook version {version} or earlier count "
    "(each annotation records the version it was saved under). Their values are read as stored now: a later "
    "merge or rename has rewritten them into the current codebook, so the figure shows how the labels made "
    "before the change agree in today's categories; compare it with the figure over all labels."
)


def codebook_version_parse(study: Study, raw) -> int | None:
    """``raw`` (a query parameter) as a codebook version of ``study``; None when empty;
    ApplicationError saying what to give instead."""
    if raw is None or str(raw).strip() == "":
        return None
    try:
        version = int(str(raw).strip())
    except ValueError:
        version = -1
    if version < 0 or version > study.codebook_version:
        raise ApplicationError(
            f"codebook_version must be a whole number from 0 to {study.codebook_version} (the current version), "
            f"not '{raw}'. The codebook page lists the versions and what changed in each.",
            details=[{"field": "codebook_version", "message": f"Give 0 to {study.codebook_version}."}],
        )
    return version


def _round_json(round_: CalibrationRound, pass_number: int) -> dict:
    return {
        "id": round_.pk,
        "name": round_.name,
        "pass": pass_number,
        "passes": round_.current_pass,
        "status": round_.status,
    }


def study_agreement(
    *,
    study: Study,
    dimension_codes: list[str] | None = None,
    resamples: int = bs.RESAMPLES,
    seed: int = bs.SEED,
    codebook_version: int | None = None,
    round: CalibrationRound | None = None,
    pass_number: int | None = None,
) -> dict:
    """The study's agreement JSON: every dimension (or those of ``dimension_codes``; an unknown code
    is an ApplicationError naming the valid ones), the bootstrap settings and the bands' citation.

    ``codebook_version``: only the labels saved under that codebook version or earlier
    (``CODEBOOK_VERSION_NOTE``). With ``round``: the same figures over that calibration round's items
    only, from the labels of its pass ``pass_number`` (the current pass when None;
    ``labelling.selectors.rounds.round_labels``). The screening votes are left out with either (they
    have no version and are not part of a round). A round's ended pass is a snapshot without
    versions, so the two cannot be combined there (ApplicationError).

    Cached until the study's results change (``labelling.selectors.results``): the figures are the
    same for every role that may read them; the caller has checked ``can_view_agreement``."""
    params = {
        "dimensions": list(dimension_codes or []),
        "resamples": resamples,
        "seed": seed,
        "codebook_version": codebook_version,
        "round": round.pk if round is not None else None,
        "pass": pass_number,
        "slug": study.slug,
    }
    return study_results_cached(
        study=study,
        name="agreement",
        params=params,
        compute=lambda: _study_agreement(
            study=study,
            dimension_codes=dimension_codes,
            resamples=resamples,
            seed=seed,
            codebook_version=codebook_version,
            round=round,
            pass_number=pass_number,
        ),
    )


def _study_agreement(
    *,
    study: Study,
    dimension_codes: list[str] | None,
    resamples: int,
    seed: int,
    codebook_version: int | None,
    round: CalibrationRound | None,
    pass_number: int | None,
) -> dict:
    entries = _dimensions(study, dimension_codes)
    labels = None
    if round is not None:
        pass_number = pass_number or round.current_pass
        if codebook_version is not None and pass_number < round.current_pass:
            raise ApplicationError(
                f"Pass {pass_number} of round '{round.name}' is kept as it stood when the round was re-opened, "
                "without codebook versions: give either codebook_version or an earlier pass, not both.",
                details=[{"field": "codebook_version", "message": "Leave it out with an earlier pass of a round."}],
            )
        labels = round_labels(round=round, pass_number=pass_number)
    ratings = dimensions_ratings(
        [_spec(e) for e in entries if e.dimension.kind in LEVELS], labels=labels, codebook_version=codebook_version
    )
    with_screening = (
        codebook_version is None
        and round is None
        and screens_by_several(study)
        and (not dimension_codes or SCREENING in dimension_codes)
    )
    screening = [screening_agreement(study=study, resamples=resamples, seed=seed)] if with_screening else []
    return {
        "study": study.slug,
        "round": _round_json(round, pass_number) if round is not None else None,
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "method": "percentile interval; items resampled with replacement",
        },
        "bands": {"citation": bands.CITATION, "legend": bands.legend(), "alpha_advice": bands.KRIPPENDORFF_ADVICE},
        "codebook": {
            "current_version": study.codebook_version,
            "labels_up_to_version": codebook_version,
            "note": CODEBOOK_VERSION_NOTE.format(version=codebook_version) if codebook_version is not None else "",
        },
        "dimensions": [
            dimension_agreement(entry=e, ratings=ratings.get(e.dimension.pk), resamples=resamples, seed=seed)
            for e in entries
        ]
        + screening,
    }


def pair_confusion(*, study: Study, dimension_code: str, rater_a: str, rater_b: str) -> dict:
    """Confusion matrix of two annotators on one dimension, over the items both labelled.

    ApplicationError (naming the valid choices) for an unknown or free-text dimension or an
    annotator who gave no label on it. Cached until the study's results change."""
    return study_results_cached(
        study=study,
        name="confusion",
        params={"dimension": dimension_code, "a": rater_a, "b": rater_b},
        compute=lambda: _pair_confusion(study=study, dimension_code=dimension_code, rater_a=rater_a, rater_b=rater_b),
    )


def _pair_confusion(*, study: Study, dimension_code: str, rater_a: str, rater_b: str) -> dict:
    entries = _dimensions(study, [dimension_code])
    if entries:
        (entry,) = entries
        dimension = entry.dimension
        if dimension.kind == Dimension.Kind.TEXT:
            raise ApplicationError(
                f"'{dimension.code}' is free text: it has no confusion matrix. Pick another dimension."
            )
        code = dimension.code
        codes = [c.code for c in entry.categories]
        ratings = dimension_ratings(dimension=dimension, level=LEVELS[dimension.kind], categories=codes)
        names = {c.code: c.name for c in entry.categories}
    else:  # the screening votes (``_dimensions`` accepted the code)
        code, ratings, names = SCREENING, _screening_ratings(study), SCREENING_NAMES
    for field, rater in (("rater_a", rater_a), ("rater_b", rater_b)):
        if rater not in ratings.raters:
            valid = ", ".join(ratings.raters) or "(nobody has labelled it yet)"
            raise ApplicationError(
                f"'{rater}' gave no label on '{code}'. Pick one of: {valid}.",
                details=[{"field": field, "message": f"Choose from: {valid}."}],
            )
    if rater_a == rater_b:
        raise ApplicationError("Pick two different annotators.", details=[{"field": "rater_b", "message": "Differs."}])
    matrix = ratings.matrix()
    a, b = ratings.raters.index(rater_a), ratings.raters.index(rater_b)
    both = (matrix[a] >= 0) & (matrix[b] >= 0)
    table = st.confusion(matrix[a][both], matrix[b][both], n_values=ratings.n_values)
    labels = [";".join(sorted(v)) if ratings.level == "multi" else v for v in ratings.values]
    return {
        "dimension": code,
        "raters": [rater_a, rater_b],
        "items": int(both.sum()),
        "values": labels,
        "names": [names.get(v, v) for v in labels],
        "matrix": table.tolist(),
    }


def _headline(d: dict) -> dict:
    """The figures of one dimension the rounds table shows."""
    if d.get("skipped"):
        return {"code": d["code"], "name": d["name"], "skipped": True}
    return {
        "code": d["code"],
        "name": d["name"],
        "items": d["items"],
        "percent_agreement": d["percent_agreement"],
        "krippendorff_alpha": {k: d["krippendorff_alpha"][k] for k in ("value", "ci95", "band")},
        "fleiss_kappa": {k: d["fleiss_kappa"][k] for k in ("value", "ci95", "band")},
    }


def rounds_agreement(*, study: Study, resamples: int = bs.RESAMPLES, seed: int = bs.SEED) -> list[dict]:
    """Per round and pass (oldest first): the round, its pass and each dimension's headline figures
    (items, percent agreement, Krippendorff's alpha and Fleiss' kappa with their 95% intervals and
    bands), each computed by ``study_agreement`` over the round's items: what the overview and the
    Agreement page's table of rounds show, so the team sees whether the pilot's discussion raised kappa.
    Cached until the study's results change."""
    return study_results_cached(
        study=study,
        name="rounds-agreement",
        params={"resamples": resamples, "seed": seed, "slug": study.slug},
        compute=lambda: _rounds_agreement(study=study, resamples=resamples, seed=seed),
    )


def _rounds_agreement(*, study: Study, resamples: int, seed: int) -> list[dict]:
    result = []
    for round_ in rounds_of(study=study):
        for p in round_passes(round=round_):
            figures = study_agreement(study=study, round=round_, pass_number=p.number, resamples=resamples, seed=seed)
            result.append(
                {
                    "round": {**figures["round"], "items": round_.item_count},
                    "pass_started_at": p.started_at,
                    "reason": p.reason,
                    "dimensions": [_headline(d) for d in figures["dimensions"]],
                }
            )
    return result
