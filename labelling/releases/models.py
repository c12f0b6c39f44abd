"""A release: a frozen, citable replication package of a study (issue 16).

``Release`` is immutable once written: the services create it with its files and checksums in
one transaction and nothing updates it afterwards. ``ReleaseFile`` lists every file of the zip
with its SHA-256 (the same list as ``checksums.sha256`` inside the package).
``AnnotatorPseudonym`` keeps the pseudonym an annotator has in a study's releases (``A1``,
``A2``, ... in the order of user ids when first released), so the same person keeps the same
name from one release to the next; a study loaded from a package records the names it found.
"""

from django.conf import settings
from django.db import models


class Release(models.Model):
    study = models.ForeignKey("labelling.Study", on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=64, help_text="Semantic version, e.g. 1.0.0.")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    prerelease = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=300)
    licence = models.CharField(max_length=32, help_text="SPDX id of the data's licence, e.g. CC-BY-4.0.")
    include_bodies = models.BooleanField(default=False, help_text="The reports' bodies are in items.csv.")
    name_annotators = models.BooleanField(default=False, help_text="Annotators by username, not pseudonym.")
    file = models.FileField(upload_to="releases/", max_length=300)
    filename = models.CharField(max_length=300)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the whole zip.")
    counts = models.JSONField(
        default=dict, blank=True, help_text="Items, included items, labels, final labels, annotators..."
    )
    changes = models.JSONField(default=dict, blank=True, help_text="What changed since the previous release.")
    codebook = models.JSONField(default=dict, blank=True, help_text="The codebook as released (template format).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "-major", "-minor", "-patch", "-id"]
        constraints = [models.UniqueConstraint(fields=["study", "version"], name="release_version_once_per_study")]

    def __str__(self):
        return f"{self.study_id} {self.version}"


class ReleaseFile(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=300, help_text="Path inside the zip, e.g. data/items.csv.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveBigIntegerField(null=True, blank=True, help_text="Data rows, for a table.")

    class Meta:
        ordering = ["release", "path"]
        constraints = [models.UniqueConstraint(fields=["release", "path"], name="release_file_once")]

    def __str__(self):
        return self.path


class AnnotatorPseudonym(models.Model):
    study = models.ForeignKey("labelling.Study", on_delete=models.CASCADE, related_name="pseudonyms")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=150, help_text="A1, A2, ... or the name a loaded package gave.")
    from_package = models.BooleanField(default=False, help_text="A placeholder account made by load_release.")

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_pseudonym_per_annotator"),
            models.UniqueConstraint(fields=["study", "name"], name="pseudonym_once_per_study"),
        ]

    def __str__(self):
        return self.name
