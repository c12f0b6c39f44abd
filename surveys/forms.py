from django import forms

from labelling.models import Dimension


class SurveyNewForm(forms.Form):
    slug = forms.SlugField(max_length=80, help_text="Unique on the site, e.g. 'category-feedback'.")
    title = forms.CharField(max_length=200, required=False, help_text="Optional; the generated title otherwise.")
    dimensions = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Generate from the codebook",
        help_text="A section per category (definition, example, a Likert matrix, 'Have you met such a bug?', "
        "a comment box); a Likert per level for an ordinal dimension.",
    )
    definition = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "survey-definition"}),
        label="Or paste a definition (JSON)",
    )

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        dimensions = Dimension.objects.filter(codebook__study=study).exclude(kind=Dimension.Kind.TEXT)
        self.fields["dimensions"].choices = [(d.code, f"{d.name} ({d.get_kind_display().lower()})") for d in dimensions]


class DefinitionForm(forms.Form):
    definition = forms.CharField(widget=forms.Textarea(attrs={"class": "survey-definition", "spellcheck": "false"}))


class InvitationsForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=5000, initial=10)
    batch = forms.CharField(max_length=100, required=False, help_text="e.g. 'mailing list, March'.")


class SettingsForm(forms.Form):
    closes_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        label="Closes at (UTC)",
        help_text="Empty: open until you close it.",
    )
    open_link_cap = forms.IntegerField(
        required=False, min_value=1, label="Open link: most responses", help_text="Empty: no cap."
    )
