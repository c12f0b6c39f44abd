"""Forms for the study pages. They only parse input; the services validate the rules and write."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from config.errors import ApplicationError
from labelling.codebook_templates import list_templates
from labelling.models import CalibrationRound, Category, Dimension, Membership, StudyItem
from triage.models import Report
from triage.reports.selectors import ReportFilter

DEFAULT_EXCLUSION_REASONS = "Not a framework bug\nDuplicate\nNot enough information\nFeature request or question"


def add_service_error(form: forms.Form, exc: Exception) -> None:
    """Show a service's ValidationError / ApplicationError on ``form`` (field errors where the
    form has the field, the rest at the top)."""
    if isinstance(exc, ApplicationError):
        form.add_error(None, exc.message)
        return
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            messages = [m for e in errors for m in e.messages]
            target = name if name in form.fields else None
            if target is None and name != NON_FIELD_ERRORS:
                messages = [f"{name}: {m}" for m in messages]
            for m in messages:
                form.add_error(target, m)
        return
    if isinstance(exc, ValidationError):
        for m in exc.messages:
            form.add_error(None, m)
        return
    raise exc


def template_choices() -> list[tuple[str, str]]:
    choices = [("", "From scratch (an empty codebook)")]
    for t in list_templates():
        label = t["name"] + (f" — {t['source']}" if t["source"] else "")
        choices.append((t["slug"], label))
    return choices


class _StudySettingsFields(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    overlap_k = forms.IntegerField(
        label="Annotators per item (k)",
        min_value=1,
        max_value=50,
        initial=2,
        help_text="How many annotators label each included item independently.",
    )
    blind = forms.BooleanField(
        label="Blind labelling (annotators never see each other's labels)", required=False, initial=True
    )
    exclusion_reasons = forms.CharField(
        label="Exclusion reasons, one per line",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        initial=DEFAULT_EXCLUSION_REASONS,
    )

    def clean_exclusion_reasons(self) -> list[str]:
        text = self.cleaned_data.get("exclusion_reasons") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class StudyCreateForm(_StudySettingsFields):
    slug = forms.SlugField(
        max_length=80, help_text="Short name used in links, e.g. 'tf-silent-bugs'. Letters, digits, '-' and '_'."
    )
    template = forms.ChoiceField(label="Codebook", required=False)
    codebook_file = forms.FileField(
        label="Or upload a codebook (JSON)",
        required=False,
        help_text="A codebook in the template format, e.g. another study's 'Export JSON' from its codebook page. "
        "Leave the template on 'From scratch' when you upload one.",
    )

    field_order = [
        "slug",
        "name",
        "description",
        "template",
        "codebook_file",
        "overlap_k",
        "blind",
        "exclusion_reasons",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = template_choices()


class StudySettingsForm(_StudySettingsFields):
    reproduction_suggestions = forms.BooleanField(
        label="Reproduction suggestions on label pages",
        required=False,
        help_text="Show annotators the labels a reproduction suggests (only verdicts that matched the expected "
        "failure; conflicting ones side by side). Off by default in blind studies: a suggestion can anchor a "
        "blind annotator.",
    )
    adjudication_shows_names = forms.BooleanField(
        label="Adjudication shows the annotators' names",
        required=False,
        help_text="Off: the adjudication page calls them 'Annotator 1', 'Annotator 2', ... for each item.",
    )
    adjudication_outcomes_shown = forms.BooleanField(
        label="Show annotators the adjudicated outcome of their items",
        required=False,
        help_text="Only once the study is not blind (never while it is): each annotator sees the adjudicated "
        "final labels of the items they finished, on their label pages.",
    )
    screening_overlap = forms.IntegerField(
        label="Screeners per item",
        min_value=1,
        max_value=50,
        initial=1,
        required=False,
        help_text="1: one vote decides (the owner screens). More: that many independent, blind screeners "
        "(owners and annotators) vote on each item and the screening rule decides.",
    )
    screening_rule = forms.ChoiceField(
        label="Screening rule",
        choices=[("unanimous", "Unanimous: all screeners agree"), ("majority", "Majority: more than half agree")],
        initial="unanimous",
        required=False,
        help_text="With several screeners: votes that decide nothing under the rule go to the owner as a conflict.",
    )

    def service_data(self) -> dict:
        """The settings to change: the screening fields only when given (left out, they stay)."""
        data = dict(self.cleaned_data)
        for name in ("screening_overlap", "screening_rule"):
            if data.get(name) in (None, ""):
                data.pop(name, None)
        return data


class DecisionRuleForm(forms.Form):
    """The decision rule of one dimension (the study settings page has one per dimension)."""

    dimension = forms.CharField(max_length=64, widget=forms.HiddenInput)
    rule = forms.ChoiceField(choices=Dimension.Rule.choices)
    threshold = forms.DecimalField(
        label="Majority threshold",
        min_value=Decimal("0.5"),
        max_value=Decimal("0.999"),
        decimal_places=3,
        required=False,
        help_text="A value wins when more than threshold x the annotators who finished the item chose it.",
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError(
                f"There is no user '{username}'. Check the spelling, or make an invitation link below: "
                "with it they create their own account."
            )
        self.user = user
        return username


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class InvitationCreateForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)
    count = forms.IntegerField(label="Links", min_value=1, max_value=100, initial=1)
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=90, initial=14)


class InvitationSignupForm(forms.Form):
    """A newcomer's account. The service checks the username and the password (Django's validators)."""

    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
    email = forms.EmailField(
        label="E-mail (optional)", required=False, help_text="Only used to send you a password reset link."
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", "The two passwords differ; type the same password twice.")
        return data


class DimensionForm(forms.Form):
    code = forms.CharField(max_length=64, help_text="e.g. root_cause (lower-case, digits, '_' or '-').")
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Dimension.Kind.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    required = forms.BooleanField(required=False, initial=True)
    max_choices = forms.IntegerField(
        required=False, min_value=1, help_text="Multiple choice only: the most categories one label may hold."
    )
    order = forms.IntegerField(required=False, min_value=0, help_text="Leave empty to put it last.")

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("order") is None:
            data.pop("order", None)
        return data


class CategoryForm(forms.Form):
    code = forms.CharField(max_length=64, help_text="e.g. wrong_output")
    name = forms.CharField(max_length=200)
    definition = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    example = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    parent = forms.ModelChoiceField(queryset=Category.objects.none(), required=False, empty_label="(top level)")
    order = forms.IntegerField(required=False, min_value=0, help_text="Leave empty to put it last.")
    shortcut = forms.CharField(
        max_length=8, required=False, strip=False, help_text="One key that picks it while labelling, e.g. 1 or c."
    )

    def __init__(self, *args, dimension: Dimension, category: Category | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Parents: top-level categories of the same dimension (one level of nesting).
        qs = Category.objects.filter(dimension=dimension, parent__isnull=True).order_by("order", "id")
        if category is not None:
            qs = qs.exclude(pk=category.pk)
        self.fields["parent"].queryset = qs
        self.fields["parent"].label_from_instance = lambda c: f"{c.name} ({c.code})"

    def clean_shortcut(self):
        value = self.cleaned_data.get("shortcut") or ""
        return value if value == " " else value.strip()

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("order") is None:
            data.pop("order", None)
        return data


class ReportFilterForm(forms.Form):
    """The report filter of the items page, read from the query string."""

    framework = forms.CharField(
        max_length=32, required=False, widget=forms.TextInput(attrs={"list": "framework-options", "size": 12})
    )
    label = forms.CharField(label="Source label", max_length=200, required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Report.Kind.choices], required=False)
    q = forms.CharField(label="Text", max_length=200, required=False)
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            raise ValidationError("'Created from' is after 'created to'; swap the dates.")
        return data

    def to_filter(self) -> ReportFilter:
        d = self.cleaned_data
        start = d.get("created_from")
        end = d.get("created_to")
        return ReportFilter(
            framework=(d.get("framework") or "").strip().lower(),
            label=(d.get("label") or "").strip(),
            q=(d.get("q") or "").strip(),
            kind=d.get("kind") or "",
            created_from=datetime.combine(start, time.min, tzinfo=UTC) if start else None,
            created_to=datetime.combine(end, time.max, tzinfo=UTC) if end else None,
        )


class SampleForm(forms.Form):
    size = forms.IntegerField(label="Sample size", min_value=1)
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**53 - 1)


class ScreeningForm(forms.Form):
    decision = forms.ChoiceField(choices=[("include", "Include"), ("exclude", "Exclude")])
    reason = forms.CharField(max_length=200, required=False)


class ItemStatusForm(forms.Form):
    screening = forms.ChoiceField(choices=[("", "All"), *StudyItem.Screening.choices], required=False)


class RoundForm(ReportFilterForm):
    """A new calibration round: its name, dates and where its items come from (the report filter
    fields apply to ``sample`` and ``filter``)."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))
    source = forms.ChoiceField(choices=CalibrationRound.Source.choices, widget=forms.RadioSelect, initial="sample")
    size = forms.IntegerField(label="Sample size", min_value=1, required=False)
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**53 - 1, required=False)
    item_ids = forms.CharField(
        label="Item ids", required=False, max_length=200_000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="List: the items' ids (as on the Items page), separated by commas or spaces.",
    )  # fmt: skip
    starts_at = forms.DateTimeField(
        label="Starts", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label="Ends", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean_item_ids(self) -> list[str]:
        return [part for part in self.cleaned_data["item_ids"].replace(",", " ").split() if part]

    def clean(self):
        data = super().clean()
        if data.get("source") == CalibrationRound.Source.SAMPLE and not data.get("size"):
            self.add_error("size", "A sample needs its size (a whole number of at least 1).")
        if data.get("source") == CalibrationRound.Source.LIST and not data.get("item_ids"):
            self.add_error("item_ids", "A list round needs the ids of its items.")
        return data


class RoundReopenForm(forms.Form):
    reason = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))
