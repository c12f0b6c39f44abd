"""The filters every chart of the Analytics page and the chart API takes, parsed and validated.

``framework`` (repeatable), ``kind`` (repeatable), ``from`` / ``to`` (ISO dates, inclusive: the
report's creation date at its source) restrict the study's items; ``labels`` says which labels are
counted: ``final`` (the final labels, default) or ``annotators`` (every individual label).
``round`` (a calibration round's id or name) restricts them to that round's items (their labels
as they stand now; an earlier pass of a re-opened round is on the Agreement page).
Every bad value is an ``ApplicationError`` naming the parameter and its valid values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Q

from config.errors import ApplicationError
from labelling.models import Study, StudyItem
from labelling.selectors.results import study_results_cached
from labelling.selectors.rounds import round_and_pass_param
from triage.models import Report

FINAL = "final"
ANNOTATORS = "annotators"
LABEL_MODES = (FINAL, ANNOTATORS)
KINDS = tuple(Report.Kind.values)


@dataclass(frozen=True)
class ChartFilters:
    frameworks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    labels: str = FINAL
    round_id: int | None = None

    @property
    def restricts_items(self) -> bool:
        return bool(self.frameworks or self.kinds or self.date_from or self.date_to or self.round_id)

    def report_q(self, prefix: str = "") -> Q:
        """A Q on Report (``prefix`` is the path to it, e.g. ``"item__report__"``)."""
        q = Q()
        if self.frameworks:
            q &= Q(**{f"{prefix}framework__in": self.frameworks})
        if self.kinds:
            q &= Q(**{f"{prefix}kind__in": self.kinds})
        if self.date_from:
            q &= Q(**{f"{prefix}created_at__gte": datetime.combine(self.date_from, time.min, tzinfo=UTC)})
        if self.date_to:
            end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)
            q &= Q(**{f"{prefix}created_at__lt": end})
        return q

    def item_q(self, prefix: str = "") -> Q:
        """A Q on StudyItem (``prefix`` is the path to it, e.g. ``"item__"``)."""
        q = self.report_q(f"{prefix}report__")
        if self.round_id:
            q &= Q(**{f"{prefix}round_memberships__round_id": self.round_id})
        return q

    def params(self) -> list[tuple[str, str]]:
        """The filters as query parameters (for the data URLs of the charts)."""
        out = [("framework", f) for f in self.frameworks] + [("kind", k) for k in self.kinds]
        if self.date_from:
            out.append(("from", self.date_from.isoformat()))
        if self.date_to:
            out.append(("to", self.date_to.isoformat()))
        if self.labels != FINAL:
            out.append(("labels", self.labels))
        if self.round_id:
            out.append(("round", str(self.round_id)))
        return out

    def query_string(self, **more) -> str:
        return urlencode(self.params() + [(k, v) for k, v in more.items() if v])

    def as_dict(self) -> dict:
        return {
            "framework": list(self.frameworks),
            "kind": list(self.kinds),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "labels": self.labels,
            "round": self.round_id,
        }


def _bad(field_name: str, message: str, valid: str):
    raise ApplicationError(message, details=[{"field": field_name, "message": f"Choose from: {valid}."}])


def study_frameworks(*, study: Study) -> list[str]:
    """The frameworks of the study's items, sorted (one aggregate query; cached until the study's
    results change: items added or removed, a report's framework re-ingested)."""
    return study_results_cached(
        study=study,
        name="frameworks",
        compute=lambda: sorted(
            StudyItem.objects.filter(study=study).order_by().values_list("report__framework", flat=True).distinct()
        ),
    )


def _date(params, name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApplicationError(
            f"'{name}' must be a date as YYYY-MM-DD (e.g. 2021-03-31), not '{raw}'.",
            details=[{"field": name, "message": "A date as YYYY-MM-DD."}],
        ) from None


def _values(params, name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist else [params.get(name, "")]
    return [v.strip() for value in raw for v in str(value or "").split(",") if v.strip()]


def parse_filters(params, *, study: Study) -> ChartFilters:
    """``params`` (a QueryDict or a dict) as ChartFilters, or an ApplicationError naming the bad parameter."""
    frameworks = _values(params, "framework")
    if frameworks:
        known = study_frameworks(study=study)
        unknown = [f for f in frameworks if f not in known]
        if unknown:
            valid = ", ".join(known) or "(the study has no items yet)"
            _bad("framework", f"Unknown framework {', '.join(map(repr, unknown))}: use one of {valid}.", valid)
    kinds = _values(params, "kind")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        _bad("kind", f"Unknown kind {', '.join(map(repr, unknown))}: use one of {', '.join(KINDS)}.", ", ".join(KINDS))
    labels = (params.get("labels") or FINAL).strip() or FINAL
    if labels not in LABEL_MODES:
        valid = ", ".join(LABEL_MODES)
        _bad("labels", f"Unknown labels '{labels}': use {valid} (final labels or every individual label).", valid)
    round_id = None
    if (params.get("round") or "").strip():
        round_, _pass = round_and_pass_param(study=study, round_raw=params.get("round"), pass_raw=None)
        round_id = round_.pk
    date_from, date_to = _date(params, "from"), _date(params, "to")
    if date_from and date_to and date_from > date_to:
        raise ApplicationError(
            f"'from' ({date_from}) is after 'to' ({date_to}): swap them.",
            details=[{"field": "from", "message": "On or before 'to'."}],
        )
    return ChartFilters(
        frameworks=tuple(dict.fromkeys(frameworks)),
        kinds=tuple(dict.fromkeys(kinds)),
        date_from=date_from,
        date_to=date_to,
        labels=labels,
        round_id=round_id,
    )
