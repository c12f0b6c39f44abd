"""Studies, codebooks and the labels annotators give.

Label values are stored as a canonical string: a category code for single-choice and
ordinal dimensions, category codes sorted and joined by ``;`` for multiple choice, and the
text itself for free-text dimensions. Equal strings mean equal labels, so agreement is a
plain comparison in SQL and in Python (see ``labelling.values``).
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_\-]*$",
    "Use lower-case letters, digits, '_' and '-' (e.g. 'root_cause', 'type-issue').",
)


class Study(models.Model):
    class ScreeningRule(models.TextChoices):
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Majority"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    overlap_k = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)], help_text="Distinct annotators per included item."
    )
    blind = models.BooleanField(default=True, help_text="Annotators never see each other's labels.")
    reproduction_suggestions = models.BooleanField(
        default=False,
        help_text="Label pages show what matched reproductions suggest (off by default in blind studies).",
    )
    exclusion_reasons = models.JSONField(
        default=list, blank=True, help_text="Reasons a screener can pick when excluding an item."
    )
    screening_overlap = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Independent screeners per item; 1 = one vote decides.",
    )
    screening_rule = models.CharField(
        max_length=16,
        choices=ScreeningRule.choices,
        default=ScreeningRule.UNANIMOUS,
        help_text="How the screeners' votes decide an item when there are several (labelling.decision_rules).",
    )
    adjudication_shows_names = models.BooleanField(
        default=False,
        help_text="The adjudication page names the annotators; otherwise they are 'Annotator 1', 'Annotator 2', ...",
    )
    adjudication_outcomes_shown = models.BooleanField(
        default=False,
        help_text="Once the study is not blind, annotators see the adjudicated final labels of the items they "
        "finished (never while it is blind).",
    )
    template_slug = models.CharField(max_length=80, blank=True, help_text="Codebook template it started from.")
    codebook_version = models.PositiveIntegerField(
        default=0, help_text="Bumped by every codebook change; cached copies of the codebook are keyed by it."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self):
        return self.name


class StudyResultsVersion(models.Model):
    """The version of what a study's result pages show (counts, agreement, chart data): one row a
    study, given a new random ``token`` by every write that changes those results, as the last
    statement of its transaction (``labelling.services.results.study_results_changed``). The
    cached results are keyed by the token (``labelling.selectors.results``), so a cache in any
    process is right once the write commits. A row of its own, not a column of the study: label
    saves share-lock the study row, and an update of it there would serialise (and deadlock) them.
    A random token, not a counter, so a rolled-back write never hands its number to the next one."""

    study = models.OneToOneField(Study, primary_key=True, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=32)
    bumps = models.PositiveBigIntegerField(default=0, help_text="How many writes changed the results.")

    def __str__(self):
        return f"{self.study_id}: {self.token} ({self.bumps})"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADJUDICATOR = "adjudicator", "Adjudicator"
        ANNOTATOR = "annotator", "Annotator"
        VIEWER = "viewer", "Viewer"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="one_membership_per_user")]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.study}"


class Codebook(models.Model):
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="codebook")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.TextField(blank=True, help_text="Citation of the publication the codebook comes from.")

    def __str__(self):
        return self.name


class Dimension(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTI = "multi", "Multiple choice"
        ORDINAL = "ordinal", "Ordinal scale"
        TEXT = "text", "Free text"

    class Rule(models.TextChoices):
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Majority"
        ADJUDICATION = "adjudication", "Adjudication only"

    codebook = models.ForeignKey(Codebook, on_delete=models.CASCADE, related_name="dimensions")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SINGLE)
    description = models.TextField(blank=True)
    required = models.BooleanField(default=True)
    max_choices = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Multiple choice only: the most categories one label may hold."
    )
    order = models.PositiveIntegerField(default=0)
    decision_rule = models.CharField(
        max_length=16,
        choices=Rule.choices,
        default=Rule.UNANIMOUS,
        help_text="How automatic final labels are made (labelling.decision_rules).",
    )
    majority_threshold = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.999"))],
        help_text="Majority rule: a value wins when more than threshold x the annotators who finished the item "
        "chose it.",
    )

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["codebook", "code"], name="dimension_code_unique")]

    def __str__(self):
        return self.name

    @property
    def has_categories(self) -> bool:
        return self.kind != self.Kind.TEXT


class Category(models.Model):
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="categories")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)
    definition = models.TextField(blank=True)
    example = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    order = models.PositiveIntegerField(default=0)
    shortcut = models.CharField(max_length=1, blank=True, help_text="Key that picks this category while labelling.")
    retired_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Retired: not offered for new labels; labels that hold it keep it.",
    )

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["dimension", "code"], name="category_code_unique"),
        ]

    def __str__(self):
        return self.name

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class CodebookEvent(models.Model):
    """One change of a study's codebook: the version it made, what changed, who changed it and how
    many stored labels it touched (``labelling.services.codebook_evolution``). The study's history."""

    class Kind(models.TextChoices):
        CREATED = "created", "Codebook created"
        DIMENSION_ADDED = "dimension_added", "Dimension added"
        DIMENSION_CHANGED = "dimension_changed", "Dimension changed"
        DIMENSION_RENAMED = "dimension_renamed", "Dimension renamed"
        DIMENSION_DELETED = "dimension_deleted", "Dimension deleted"
        CATEGORY_ADDED = "category_added", "Category added"
        CATEGORY_CHANGED = "category_changed", "Category changed"
        CATEGORY_RENAMED = "category_renamed", "Category renamed"
        CATEGORY_MOVED = "category_moved", "Category moved"
        CATEGORY_DELETED = "category_deleted", "Category deleted"
        CATEGORY_RETIRED = "category_retired", "Category retired"
        CATEGORY_RESTORED = "category_restored", "Category restored"
        CATEGORIES_MERGED = "categories_merged", "Categories merged"
        CATEGORY_SPLIT = "category_split", "Category split"
        DECISION_RULE_CHANGED = "decision_rule_changed", "Decision rule changed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="codebook_events")
    version = models.PositiveIntegerField(help_text="The study's codebook_version after this change.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    summary = models.CharField(max_length=500, help_text="What changed, in one sentence.")
    details = models.JSONField(default=dict, blank=True, help_text="What changed, as data (codes, names, ids).")
    annotations_touched = models.PositiveIntegerField(default=0)
    final_labels_touched = models.PositiveIntegerField(default=0)
    decisions_touched = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version", "-id"]
        indexes = [models.Index(fields=["study", "version"], name="codebook_event_version_idx")]

    def __str__(self):
        return f"{self.study_id} v{self.version}: {self.summary}"


class StudyItem(models.Model):
    class Screening(models.TextChoices):
        PENDING = "pending", "Not screened"
        INCLUDED = "included", "Included"
        EXCLUDED = "excluded", "Excluded"

    class ScreeningMethod(models.TextChoices):
        NONE = "", "Not decided"
        SINGLE = "single", "One screener"
        UNANIMOUS = "unanimous", "Unanimous screeners"
        MAJORITY = "majority", "Majority of screeners"
        OWNER = "owner", "Owner's decision"
        IMPORTED = "imported", "Imported"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    report = models.ForeignKey("triage.Report", on_delete=models.PROTECT, related_name="study_items")
    screening = models.CharField(max_length=16, choices=Screening.choices, default=Screening.PENDING)
    exclusion_reason = models.CharField(max_length=200, blank=True)
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    screened_at = models.DateTimeField(null=True, blank=True)
    screening_method = models.CharField(
        max_length=16, choices=ScreeningMethod.choices, blank=True, default="", help_text="What made the decision."
    )
    screening_conflict = models.BooleanField(
        default=False, help_text="Its k screeners' votes decide nothing under the rule: the owner decides."
    )
    added_at = models.DateTimeField(auto_now_add=True)
    needs_review = models.BooleanField(default=False, help_text="Its report changed after it joined the study.")
    review_reason = models.TextField(blank=True, help_text="What changed, for the re-review.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "report"], name="report_once_per_study")]
        indexes = [
            models.Index(fields=["study", "screening"]),
            # The items list's keyset pages (id order), whole, by screening, and changed at the source.
            models.Index(fields=["study", "id"], name="studyitem_list_idx"),
            models.Index(fields=["study", "screening", "id"], name="studyitem_list_screening_idx"),
            models.Index(
                fields=["study", "id"], condition=models.Q(needs_review=True), name="studyitem_list_review_idx"
            ),
        ]

    def __str__(self):
        return f"{self.study.slug}: {self.report.source_id}"


class ScreeningVote(models.Model):
    """One screener's include/exclude vote on an item (labelling.services.screening)."""

    class Decision(models.TextChoices):
        INCLUDE = "include", "Include"
        EXCLUDE = "exclude", "Exclude"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="screening_votes")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="screening_votes")
    screener = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="screening_votes")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "screener"], name="one_screening_vote_per_screener")]
        indexes = [models.Index(fields=["study", "screener"], name="screening_vote_screener_idx")]

    def __str__(self):
        return f"{self.decision} by {self.screener_id} on item {self.item_id}"


class SampleDraw(models.Model):
    """A record of how items were added, so a random sample can be drawn again."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="draws")
    filters = models.JSONField(default=dict, blank=True)
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    matched = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"draw of {self.added} items into {self.study_id} (seed {self.seed})"


class Assignment(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_annotator")]
        indexes = [models.Index(fields=["study", "annotator", "completed_at", "id"], name="next_item_idx")]

    def __str__(self):
        return f"item {self.item_id} to annotator {self.annotator_id}"


class Annotation(models.Model):
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="annotations")
    value = models.TextField(blank=True, help_text="Canonical value: code, sorted codes joined by ';', or text.")
    note = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    # db_default too: bulk writers that COPY rows (label import, benchmarks) may leave them out.
    codebook_version = models.PositiveIntegerField(
        default=0, db_default=0, help_text="The study's codebook version when the annotator last saved this label."
    )
    needs_recode = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A split made its category ambiguous: the annotator picks one of the new ones.",
    )
    recode_event = models.ForeignKey(
        CodebookEvent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="flagged_annotations",
        help_text="The split that flagged it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator", "dimension"], name="one_annotation_per_dimension")
        ]
        indexes = [
            models.Index(
                fields=["annotator", "item"], condition=models.Q(needs_recode=True), name="annotation_recode_idx"
            )
        ]

    def __str__(self):
        return f"{self.dimension_id}={self.value!r} by {self.annotator_id} on item {self.item_id}"


class FinalLabel(models.Model):
    class Method(models.TextChoices):
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Majority"
        ADJUDICATED = "adjudicated", "Adjudicated"
        IMPORTED = "imported", "Imported"

    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="final_labels")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="final_labels")
    value = models.TextField(blank=True)
    method = models.CharField(max_length=16, choices=Method.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rationale = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "dimension"], name="one_final_label_per_dimension")]

    def __str__(self):
        return f"{self.dimension_id}={self.value!r} ({self.method}) on item {self.item_id}"


class ItemDisagreement(models.Model):
    """A dimension of an item on which its annotators disagree: every assignment of the item is
    completed (at least ``overlap_k`` of them), the dimension has no final label, and the
    annotators' values (a missing label counting as empty, multiple choices as sets) are not all
    equal. Maintained by ``labelling.services.disagreements`` whenever one of those can change,
    so the Disagreements page and the adjudication queue read one keyset page of these rows
    instead of computing them from every annotation of the study."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="disagreements")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "dimension"], name="one_disagreement_per_dimension")]
        indexes = [
            models.Index(fields=["study", "item"], name="disagreement_study_item_idx"),
            models.Index(fields=["study", "dimension", "item"], name="disagreement_dimension_idx"),
        ]

    def __str__(self):
        return f"disagreement on {self.dimension_id} of item {self.item_id}"


class FinalLabelDecision(models.Model):
    """One adjudication of one item's dimension: what was chosen, between what, why, and what
    it replaced. The FinalLabel holds the current decision; these rows are its history
    (``labelling.services.adjudication``)."""

    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="final_label_decisions")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="final_label_decisions")
    value = models.TextField(blank=True)
    chosen_from = models.JSONField(default=list, blank=True, help_text="The annotators' values it chose between.")
    rationale = models.TextField()
    replaced_method = models.CharField(
        max_length=16, choices=FinalLabel.Method.choices, blank=True, help_text="Method of the final label it replaced."
    )
    replaced_value = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "id"]
        indexes = [models.Index(fields=["item", "dimension", "decided_at"], name="decision_item_dim_idx")]

    def __str__(self):
        return f"{self.dimension_id}={self.value!r} adjudicated on item {self.item_id}"


class StudyInvitation(models.Model):
    """A one-time link that makes whoever opens it a member of ``study`` with ``role``.

    Only a SHA-256 hash of the token is stored (``labelling.services.invitations``): the link is
    shown once, to the owner who made it, and a database dump holds no usable links.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the link's token.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"invitation {self.pk} to {self.study_id} as {self.role}"

    def state(self, now) -> str:
        """open, used, revoked or expired."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "open"


# Releases (issue 16) live in their own module; imported here so Django finds the models.
from labelling.releases.models import AnnotatorPseudonym, Release, ReleaseFile  # noqa: E402, F401


class CalibrationRound(models.Model):
    """A named set of a study's items labelled together (a pilot, a later round), with a start and
    an end; agreement is shown per round. Re-opening it for re-labelling (after a codebook change)
    starts a new pass; the earlier passes' labels are kept as ``AnnotationSnapshot`` rows
    (``labelling.services.rounds``)."""

    class Source(models.TextChoices):
        SAMPLE = "sample", "Seeded random sample"
        FILTER = "filter", "Every item matching a filter"
        LIST = "list", "A list of items"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rounds")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_params = models.JSONField(
        default=dict, blank=True, help_text="How the items were chosen: filters, sample size and seed, or the count."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    current_pass = models.PositiveSmallIntegerField(default=1, help_text="1, then one more per re-opening.")
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="round_name_unique_in_study")]

    def __str__(self):
        return f"{self.name} ({self.study_id})"


class RoundItem(models.Model):
    round = models.ForeignKey(CalibrationRound, on_delete=models.CASCADE, related_name="round_items")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="round_memberships")

    class Meta:
        ordering = ["item_id"]
        constraints = [models.UniqueConstraint(fields=["round", "item"], name="item_once_per_round")]

    def __str__(self):
        return f"item {self.item_id} in round {self.round_id}"


class RoundPass(models.Model):
    """One labelling pass over a round: pass 1 from its creation, one more per re-opening."""

    round = models.ForeignKey(CalibrationRound, on_delete=models.CASCADE, related_name="passes")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When the round was re-opened after it.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, help_text="Why the round was re-opened (e.g. the codebook change).")
    codebook_version = models.PositiveIntegerField(default=0, help_text="The study's codebook version at its start.")
    labels_kept = models.PositiveIntegerField(default=0, help_text="Labels kept in its history when it ended.")

    class Meta:
        ordering = ["round_id", "number"]
        constraints = [models.UniqueConstraint(fields=["round", "number"], name="pass_number_unique_in_round")]

    def __str__(self):
        return f"pass {self.number} of round {self.round_id}"


class AnnotationSnapshot(models.Model):
    """A label as it stood when its round was re-opened: the history of an earlier pass."""

    round_pass = models.ForeignKey(RoundPass, on_delete=models.CASCADE, related_name="snapshots")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="+")
    value = models.TextField(blank=True)
    note = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    labelled_at = models.DateTimeField(help_text="When the label was last saved in that pass.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round_pass", "item", "annotator", "dimension"], name="one_snapshot_per_label_and_pass"
            )
        ]
        indexes = [models.Index(fields=["round_pass", "dimension"], name="snapshot_pass_dim_idx")]

    def __str__(self):
        return f"{self.dimension_id}={self.value!r} on item {self.item_id} (pass {self.round_pass_id})"
