"""The codebook page: every member reads it; the owner adds, edits and deletes dimensions and categories."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.errors import ApplicationError
from labelling import codebook_operations
from labelling.forms import CategoryForm, DimensionForm, add_service_error
from labelling.models import Category, Dimension
from labelling.permissions import can_view_study, is_owner, role_in, sees_others_labels, study_for
from labelling.selectors.codebook import (
    category_impact,
    codebook_export_file,
    codebook_history,
    dimension_impact,
    event_as_dict,
)
from labelling.selectors.studies import codebook_tree
from labelling.services.codebooks import (
    category_create,
    category_delete,
    category_update,
    dimension_create,
    dimension_delete,
    dimension_update,
)

SERVICE_ERRORS = (ValidationError, ApplicationError)


def _page(request, study, *, dimension_form=None, category_forms=None, status=200):
    codebook = study.codebook
    dimensions = codebook_tree(codebook=codebook)
    owner = is_owner(request.user, study)
    category_forms = category_forms or {}
    if owner:
        for dim in dimensions:
            if dim.has_categories:
                dim.new_category_form = category_forms.get(dim.pk) or CategoryForm(dimension=dim, prefix=f"dim{dim.pk}")
    return render(
        request,
        "labelling/codebook.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "codebook": codebook,
            "dimensions": dimensions,
            "is_owner": owner,
            "dimension_form": dimension_form or DimensionForm(),
            "history": _history(request, study),
        },
        status=status,
    )


@login_required
@require_safe
def codebook(request, slug):
    study = study_for(request.user, slug, check=can_view_study)
    return _page(request, study)


@login_required
@require_POST
def dimension_add(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    form = DimensionForm(request.POST)
    if form.is_valid():
        try:
            dim = dimension_create(codebook=study.codebook, **form.service_kwargs(), by=request.user)
        except SERVICE_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Dimension '{dim.code}' added.")
            return redirect("labelling:codebook", slug=study.slug)
    return _page(request, study, dimension_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def dimension_edit(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    dimension = get_object_or_404(Dimension, pk=pk, codebook__study=study)
    if request.method == "POST":
        form = DimensionForm(request.POST)
        if form.is_valid():
            try:
                dimension_update(dimension=dimension, data=form.service_kwargs(), by=request.user)
            except SERVICE_ERRORS as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Dimension '{form.cleaned_data['code']}' saved.")
                return redirect("labelling:codebook", slug=study.slug)
    else:
        form = DimensionForm(
            initial={f: getattr(dimension, f) for f in DimensionForm.base_fields if hasattr(dimension, f)}
        )
    return render(
        request,
        "labelling/codebook_dimension_form.html",
        {"study": study, "role": role_in(request.user, study), "dimension": dimension, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def dimension_remove(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    dimension = get_object_or_404(Dimension, pk=pk, codebook__study=study)
    try:
        dimension_delete(dimension=dimension, by=request.user)
    except SERVICE_ERRORS as exc:
        messages.error(request, exc.message if isinstance(exc, ApplicationError) else " ".join(exc.messages))
    else:
        messages.success(request, f"Dimension '{dimension.code}' deleted.")
    return redirect("labelling:codebook", slug=study.slug)


@login_required
@require_POST
def category_add(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    dimension = get_object_or_404(Dimension, pk=pk, codebook__study=study)
    form = CategoryForm(request.POST, dimension=dimension, prefix=f"dim{dimension.pk}")
    if form.is_valid():
        try:
            cat = category_create(dimension=dimension, **form.service_kwargs(), by=request.user)
        except SERVICE_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Category '{cat.code}' added to '{dimension.code}'.")
            return redirect(f"{_codebook_url(study)}#dim-{dimension.pk}")
    return _page(request, study, category_forms={dimension.pk: form}, status=400)


def _codebook_url(study):
    return reverse("labelling:codebook", kwargs={"slug": study.slug})


@login_required
@require_http_methods(["GET", "POST"])
def category_edit(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    category = get_object_or_404(Category.objects.select_related("dimension"), pk=pk, dimension__codebook__study=study)
    dimension = category.dimension
    if request.method == "POST":
        form = CategoryForm(request.POST, dimension=dimension, category=category)
        if form.is_valid():
            try:
                category_update(category=category, data=form.service_kwargs(), by=request.user)
            except SERVICE_ERRORS as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Category '{form.cleaned_data['code']}' saved.")
                return redirect(f"{_codebook_url(study)}#dim-{dimension.pk}")
    else:
        form = CategoryForm(
            dimension=dimension,
            category=category,
            initial={
                "code": category.code,
                "name": category.name,
                "definition": category.definition,
                "example": category.example,
                "parent": category.parent_id,
                "order": category.order,
                "shortcut": category.shortcut,
            },
        )
    return render(
        request,
        "labelling/codebook_category_form.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "dimension": dimension,
            "category": category,
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def category_remove(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    category = get_object_or_404(Category, pk=pk, dimension__codebook__study=study)
    try:
        category_delete(category=category, by=request.user)
    except SERVICE_ERRORS as exc:
        messages.error(request, exc.message if isinstance(exc, ApplicationError) else " ".join(exc.messages))
    else:
        messages.success(request, f"Category '{category.code}' deleted.")
    return redirect(f"{_codebook_url(study)}#dim-{category.dimension_id}")


# --------------------------------------------------------------------------- evolution (issue 13)


def _history(request, study):
    full = sees_others_labels(request.user, study)
    return [{**event_as_dict(e, with_counts=full), "at": e.created_at} for e in codebook_history(study=study)[:500]]


@login_required
@require_safe
def codebook_export_view(request, slug):
    """The codebook as a JSON file in the template format (members)."""
    study = study_for(request.user, slug, check=can_view_study)
    filename, body = codebook_export_file(study=study)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _operation_input(post, operation: str) -> dict:
    if operation == "rename":
        return {"code": post.get("code", ""), "name": post.get("name", "")}
    if operation == "merge":
        return {"target": post.get("target", "")}
    if operation == "split":
        return {"into": post.get("into", "")}
    if operation == "move":
        return {"parent": post.get("parent", "")}
    return {}


def _change_page(request, study, subject, *, errors=None, values=None, confirm=None, status=200):
    is_dimension = isinstance(subject, Dimension)
    dimension = subject if is_dimension else subject.dimension
    siblings = [] if is_dimension else list(dimension.categories.exclude(pk=subject.pk).order_by("order", "id"))
    return render(
        request,
        "labelling/codebook_change.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "subject": subject,
            "is_dimension": is_dimension,
            "dimension": dimension,
            "merge_targets": siblings,
            "parents": [c for c in siblings if c.parent_id is None],
            "impact": dimension_impact(dimension=subject) if is_dimension else category_impact(category=subject),
            "errors": errors or {},
            "values": values or {},
            "confirm": confirm,
        },
        status=status,
    )


def _change(request, study, subject):
    """GET: the forms. POST: the confirm step (what the operation touches), then with confirm=1 the change."""
    if request.method == "GET":
        return _change_page(request, study, subject)
    operation = request.POST.get("operation", "")
    data = _operation_input(request.POST, operation)
    try:
        plan = codebook_operations.plan(operation, subject, data)
        if request.POST.get("confirm") != "1":
            rehearsal = codebook_operations.rehearse(plan, by=request.user)
            confirm = {"plan": plan, "data": data, "event": rehearsal}
            return _change_page(request, study, subject, values={operation: data}, confirm=confirm)
        event = codebook_operations.apply(plan, by=request.user)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        return _change_page(request, study, subject, errors={operation: errors}, values={operation: data}, status=400)
    messages.success(request, f"Codebook version {event.version}: {event.summary}")
    return redirect(f"{_codebook_url(study)}#history")


@login_required
@require_http_methods(["GET", "POST"])
def category_change(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    category = get_object_or_404(
        Category.objects.select_related("dimension__codebook", "parent"), pk=pk, dimension__codebook__study=study
    )
    return _change(request, study, category)


@login_required
@require_http_methods(["GET", "POST"])
def dimension_rename_view(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    dimension = get_object_or_404(Dimension.objects.select_related("codebook"), pk=pk, codebook__study=study)
    return _change(request, study, dimension)
