"""Surveys that ask developers about a study's categories, and the answers they give.

A survey's questions are defined by one JSON document (``surveys.validation`` gives its
schema). While the survey is a draft the document is edited freely (``Survey.definition``);
opening it freezes the document as a numbered ``SurveyVersion`` and derives one ``Question``
row per question, and every later edit of an open survey makes a new version. A ``Response``
always refers to the version it answered, and its ``Answer`` rows to that version's questions.

Respondents are anonymous: a response holds no user, IP address or user agent, and its dates
are rounded to the day. Tokens (invitation links, the open link) are stored only as SHA-256
hashes: a link is shown once to the owner who made it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Survey(models.Model):
    """A questionnaire attached to a study: its working definition, state and links.

    ``definition`` is the document the builder edits; once the survey has been opened the
    document that respondents see is ``current_version.definition``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    study = models.ForeignKey("labelling.Study", on_delete=models.CASCADE, related_name="surveys")
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    definition = models.JSONField(default=dict, help_text="The working JSON document (surveys.validation).")
    current_version = models.ForeignKey(
        "SurveyVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version respondents answer now; none before the survey first opens.",
    )
    closes_at = models.DateTimeField(null=True, blank=True, help_text="No answer is accepted from then on.")
    open_link_token_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="sha256 of the open link's token, if any."
    )
    open_link_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most responses the open link accepts (none = no cap)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title


class SurveyVersion(models.Model):
    """The definition document frozen when the survey opened (number 1) or was edited while
    open (2, 3, ...). Never changed once made: answers refer to it."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["survey", "number"]
        constraints = [models.UniqueConstraint(fields=["survey", "number"], name="survey_version_number_unique")]

    def __str__(self):
        return f"{self.survey_id} v{self.number}"


class Question(models.Model):
    """One question of a version, derived from its definition so results are SQL joins.

    ``category`` is the codebook category a generated question asks about, as
    ``"dimension/category"`` (for an ordinal dimension the category is the level), so answers
    can be joined to the labelled data; blank for questions written by hand.
    """

    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTI = "multi", "Multiple choice"
        LIKERT = "likert", "Likert scale"
        MATRIX = "matrix", "Likert matrix"
        NUMBER = "number", "Number"
        TEXT = "text", "Text"

    version = models.ForeignKey(SurveyVersion, on_delete=models.CASCADE, related_name="questions")
    code = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField()
    section = models.PositiveIntegerField(help_text="Index of its section in the definition, from 0.")
    position = models.PositiveIntegerField(help_text="Order of the question in the whole survey, from 0.")
    required = models.BooleanField(default=False)
    options = models.JSONField(default=list, blank=True, help_text="Single and multiple choice: the options.")
    min_value = models.FloatField(null=True, blank=True, help_text="Likert, matrix, number: lowest allowed.")
    max_value = models.FloatField(null=True, blank=True, help_text="Likert, matrix, number: highest allowed.")
    min_label = models.CharField(max_length=200, blank=True)
    max_label = models.CharField(max_length=200, blank=True)
    rows = models.JSONField(default=list, blank=True, help_text='Matrix: [{"code": ..., "text": ...}, ...].')
    long = models.BooleanField(default=False, help_text="Text: a long answer box rather than one line.")
    condition = models.JSONField(
        null=True, blank=True, help_text='Shown only if {"question": CODE, "equals": VALUE} holds.'
    )
    category = models.CharField(
        max_length=130, blank=True, help_text='Codebook category asked about: "dimension/category".'
    )

    class Meta:
        ordering = ["version", "position"]
        constraints = [models.UniqueConstraint(fields=["version", "code"], name="question_code_unique_in_version")]

    def __str__(self):
        return self.code


class Invitation(models.Model):
    """An anonymous link that one respondent answers once.

    Made in batches by the owner (``batch`` names the mailing it went out with), or made for
    a respondent who came through the survey's open link (``from_open_link``), so that they
    can save and come back with their own link. Only the token's SHA-256 hash is stored.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the link's token.")
    batch = models.CharField(max_length=100, blank=True, help_text="Label of the batch it was made in.")
    from_open_link = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateField(null=True, blank=True, help_text="Day the response was submitted (rounded).")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["survey", "batch"], name="invitation_survey_batch_idx")]

    def __str__(self):
        return f"invitation {self.pk} to {self.survey_id}"


class Response(models.Model):
    """One respondent's answers to one version of a survey, in progress or submitted.

    Anonymous by design: no user, IP address or user agent, and only the day of consent and
    of submission. At most one response per invitation.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    # RESTRICT, not PROTECT: a version with answers cannot be deleted alone, but deleting the
    # survey (or its study) takes its responses with it.
    version = models.ForeignKey(SurveyVersion, on_delete=models.RESTRICT, related_name="responses")
    invitation = models.OneToOneField(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="response"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    consent_at = models.DateField(help_text="Day the respondent consented (rounded).")
    submitted_at = models.DateField(null=True, blank=True, help_text="Day it was submitted (rounded).")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["survey", "status"], name="response_survey_status_idx")]

    def __str__(self):
        return f"response {self.pk} to {self.survey_id}"


class Answer(models.Model):
    """One answer of a response to one question (and, for a matrix, one row of it).

    ``value`` is the answer as the API takes it: the option (single), a list of options
    (multi), a number (likert, matrix row, number) or the text. ``number`` repeats numeric
    values so that results aggregate in SQL.
    """

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.RESTRICT, related_name="answers")
    row_code = models.CharField(max_length=64, null=True, blank=True, help_text="Matrix row; null otherwise.")
    value = models.JSONField()
    number = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["response", "question__position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], condition=Q(row_code__isnull=True), name="one_answer_per_question"
            ),
            models.UniqueConstraint(
                fields=["response", "question", "row_code"],
                condition=Q(row_code__isnull=False),
                name="one_answer_per_matrix_row",
            ),
        ]

    def __str__(self):
        return f"{self.question_id}/{self.row_code or '-'} of response {self.response_id}"
