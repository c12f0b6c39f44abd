"""The items page: filter reports, add them all or a reproducible random sample, list the items and draws."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from config.errors import ApplicationError
from config.keyset import bounded_count, keyset_page_context
from labelling.forms import ItemStatusForm, ReportFilterForm, SampleForm, add_service_error
from labelling.models import Annotation, StudyItem
from labelling.permissions import can_read_results, is_owner, role_in, study_for
from labelling.selectors.studies import draws_for_study, items_for_study
from labelling.services.items import items_add_by_filter, items_sample, new_seed
from labelling.services.screening import item_review_done
from triage.reports.selectors import report_framework_counts, reports_matching

PAGE_SIZE = 50
FILTER_FIELDS = list(ReportFilterForm.base_fields)


def _filter_querystring(form: ReportFilterForm) -> str:
    data = {k: form.data.get(k) for k in FILTER_FIELDS if form.data.get(k)}
    return urlencode(data)


def _items_page(request, study, *, filter_form=None, sample_form=None, status=200):
    owner = is_owner(request.user, study)
    if filter_form is None:
        filter_form = ReportFilterForm(request.GET if any(k in request.GET for k in FILTER_FIELDS) else None)
    preview = None
    if owner and filter_form.is_bound and filter_form.is_valid():
        matching = reports_matching(filter_form.to_filter())
        total = matching.count()
        new = matching.exclude(id__in=StudyItem.objects.filter(study=study).values("report_id")).count()
        preview = {"total": total, "new": new, "querystring": _filter_querystring(filter_form)}
    status_form = ItemStatusForm(request.GET)
    screening = status_form.cleaned_data.get("screening") if status_form.is_valid() else ""
    needs_review = request.GET.get("needs_review") == "1"
    needs_recode = request.GET.get("needs_recode") == "1"
    items = items_for_study(
        study=study, screening=screening or None, needs_review=needs_review, needs_recode=needs_recode
    )
    paging, cursor_status = keyset_page_context(request, items, size=PAGE_SIZE)
    status = cursor_status if cursor_status != 200 else status
    matching, more = bounded_count(items)
    return render(
        request,
        "labelling/items.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "is_owner": owner,
            "filter_form": filter_form,
            "sample_form": sample_form or SampleForm(initial={"seed": new_seed()}),
            "preview": preview,
            **paging,
            "matching": matching,
            "matching_more": more,
            "screening": screening,
            "needs_review": needs_review,
            "needs_review_count": StudyItem.objects.filter(study=study, needs_review=True).count(),
            "needs_recode": needs_recode,
            "needs_recode_count": Annotation.objects.filter(item__study=study, needs_recode=True)
            .values("item_id")
            .distinct()
            .count(),
            "screening_choices": StudyItem.Screening.choices,
            "draws": draws_for_study(study=study)[:50],
            "frameworks": report_framework_counts() if owner else [],
        },
        status=status,
    )


@login_required
@require_safe
def items(request, slug):
    study = study_for(request.user, slug, check=can_read_results)
    return _items_page(request, study)


def _back(study, filter_form):
    url = reverse("labelling:items", kwargs={"slug": study.slug})
    qs = _filter_querystring(filter_form)
    return redirect(f"{url}?{qs}" if qs else url)


@login_required
@require_POST
def items_add_all(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    filter_form = ReportFilterForm(request.POST)
    if not filter_form.is_valid():
        return _items_page(request, study, filter_form=filter_form, status=400)
    draw = items_add_by_filter(study=study, filters=filter_form.to_filter(), added_by=request.user)
    added = ngettext("%(n)d report added", "%(n)d reports added", draw.added) % {"n": draw.added}
    messages.success(request, f"{added} to the study, waiting for screening.")
    return _back(study, filter_form)


@login_required
@require_POST
def items_add_sample(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    filter_form = ReportFilterForm(request.POST)
    sample_form = SampleForm(request.POST)
    if filter_form.is_valid() and sample_form.is_valid():
        try:
            draw = items_sample(
                study=study,
                filters=filter_form.to_filter(),
                size=sample_form.cleaned_data["size"],
                seed=sample_form.cleaned_data["seed"],
                added_by=request.user,
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(sample_form, exc)
        else:
            messages.success(
                request,
                ngettext(
                    "A random sample of %(n)d report (seed %(seed)s) added, waiting for screening.",
                    "A random sample of %(n)d reports (seed %(seed)s) added, waiting for screening.",
                    draw.added,
                )
                % {"n": draw.added, "seed": draw.seed},
            )
            return _back(study, filter_form)
    return _items_page(request, study, filter_form=filter_form, sample_form=sample_form, status=400)


@login_required
@require_POST
def item_reviewed(request, slug, item_id):
    study = study_for(request.user, slug, check=is_owner)
    item = item_review_done(item=get_object_or_404(StudyItem, study=study, pk=item_id))
    messages.success(request, f"Item {item.pk} marked as reviewed.")
    return redirect(reverse("labelling:items", kwargs={"slug": study.slug}) + "?needs_review=1")
