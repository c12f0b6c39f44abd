"""Reports (what gets screened, labelled and reproduced) and where they come from."""

from django.conf import settings
from django.db import models


class Report(models.Model):
    """One framework issue or one crash group: the unit a study screens and labels."""

    class Kind(models.TextChoices):
        ISSUE = "issue", "GitHub issue"
        CRASH = "crash", "Crash group"

    source_id = models.CharField(
        max_length=255, unique=True, help_text="Stable id from the source, e.g. github:pytorch/pytorch#1234."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ISSUE)
    framework = models.CharField(max_length=32, db_index=True, help_text="Lower case, e.g. tensorflow, pytorch.")
    title = models.CharField(max_length=1000)
    body = models.TextField(blank=True, help_text="Markdown as written at the source (untrusted).")
    url = models.URLField(max_length=1000, blank=True)
    state = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the report was opened at its source.")
    closed_at = models.DateTimeField(null=True, blank=True)
    source_labels = models.ManyToManyField("SourceLabel", related_name="reports", blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="Source fields that have no column of their own.")
    content_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the imported fields.")
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["framework", "created_at"])]

    def __str__(self):
        return f"{self.source_id}: {self.title[:60]}"


class SourceLabel(models.Model):
    """A label given at the source (e.g. a GitHub label such as ``comp:keras``)."""

    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ImportJob(models.Model):
    """A file of reports being imported; its progress lives here, not in the broker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, field, message}] when the file is refused.")
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"import {self.filename} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
