"""Reports (what gets screened, labelled and reproduced) and where they come from."""

from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedCharField

from config.indexes import NullsLastIndex


class Report(models.Model):
    """One framework issue or one crash group: the unit a study screens and labels."""

    class Kind(models.TextChoices):
        ISSUE = "issue", "GitHub issue"
        PULL_REQUEST = "pull_request", "GitHub pull request"
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
        indexes = [
            models.Index(fields=["framework", "created_at"]),
            # The reports list's keyset pages (id order) filtered by framework or kind.
            models.Index(fields=["framework", "id"], name="report_list_framework_idx"),
            models.Index(fields=["kind", "id"], name="report_list_kind_idx"),
        ]
        # Site permissions (granted through the "curator" and "researcher" groups; triage/permissions.py).
        permissions = [
            ("curate_reports", "Can import and re-import reports and merge or split crash groups"),
            ("manage_github_sources", "Can define, change and sync GitHub sources of their own"),
            ("manage_fuzzer_accounts", "Can create fuzzer accounts"),
            ("run_reproductions", "Can attach reproducers to reports and queue reproduction runs"),
        ]

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


# --------------------------------------------------------------------------- GitHub ingestion


class GitHubSource(models.Model):
    """A saved query against one repository's tracker, synced on demand or on a schedule."""

    class State(models.TextChoices):
        ALL = "all", "All"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    repository = models.CharField(max_length=200, help_text="owner/name, e.g. tensorflow/tensorflow.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.CLOSED)
    labels = models.JSONField(default=list, blank=True, help_text="Issues must carry all of these labels.")
    created_from = models.DateTimeField(null=True, blank=True)
    created_to = models.DateTimeField(null=True, blank=True)
    closed_from = models.DateTimeField(null=True, blank=True)
    closed_to = models.DateTimeField(null=True, blank=True)
    query = models.CharField(max_length=500, blank=True, help_text="Optional GitHub search syntax.")
    include_pull_requests = models.BooleanField(default=False)
    with_comments = models.BooleanField(default=True)
    base_url = models.URLField(
        blank=True, help_text="API base URL for GitHub Enterprise, from BUGSIFT_GITHUB_API_URLS; empty for github.com."
    )
    token = EncryptedCharField(
        max_length=255, blank=True, help_text="Encrypted at rest (BUGSIFT_FIELD_ENCRYPTION_KEY), never shown back."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="github_sources",
        help_text="Who may see, change and sync it (and staff). Without an owner: staff only.",
    )
    schedule_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Sync every N minutes.")
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="Start of the last complete sync.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.repository})"


class SyncRun(models.Model):
    """One sync of a source: its progress, counts and errors; the place a resumed sync restarts from."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for the rate limit"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(GitHubSource, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    since = models.DateTimeField(null=True, blank=True, help_text="Only issues updated since then (incremental).")
    next_page = models.PositiveIntegerField(default=1, help_text="The page a resumed sync fetches next.")
    pages_fetched = models.PositiveIntegerField(default=0)
    issues_new = models.PositiveIntegerField(default=0)
    issues_updated = models.PositiveIntegerField(default=0)
    issues_unchanged = models.PositiveIntegerField(default=0)
    pull_requests_seen = models.PositiveIntegerField(default=0)
    rate_limit_waits = models.PositiveIntegerField(default=0)
    resume_at = models.DateTimeField(null=True, blank=True, help_text="When a rate-limited sync continues.")
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"sync of {self.source_id} ({self.status})"


class IssueDetails(models.Model):
    """What GitHub says about an issue or pull request beyond the Report's common fields."""

    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="issue")
    repository = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    author = models.CharField(max_length=200, blank=True)
    is_pull_request = models.BooleanField(default=False)
    reactions_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    github_updated_at = models.DateTimeField(null=True, blank=True)
    links = models.JSONField(default=list, blank=True, help_text="Gist and notebook links found in the text.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "number"], name="one_issue_per_number")]

    def __str__(self):
        return f"{self.repository}#{self.number}"


class Comment(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="comments")
    github_id = models.BigIntegerField(unique=True)
    author = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment {self.github_id} on {self.report_id}"


class LinkedChange(models.Model):
    """A pull request or commit that references or closes an issue (from its timeline)."""

    class Kind(models.TextChoices):
        PULL_REQUEST = "pull_request", "Pull request"
        COMMIT = "commit", "Commit"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="linked_changes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ref = models.CharField(max_length=200, help_text="owner/name#N for a pull request, the SHA for a commit.")
    url = models.URLField(max_length=1000, blank=True)
    title = models.CharField(max_length=1000, blank=True)
    state = models.CharField(max_length=32, blank=True)
    merged = models.BooleanField(default=False)
    closes = models.BooleanField(default=False, help_text="It closed the issue (not only referenced it).")
    event_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event_at", "id"]
        constraints = [models.UniqueConstraint(fields=["report", "kind", "ref"], name="one_link_per_change")]

    def __str__(self):
        return f"{self.kind} {self.ref} -> {self.report_id}"


class CodeBlock(models.Model):
    """A code block found in an issue body or comment: a candidate reproduction script."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="code_blocks")
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="code_blocks")
    language = models.CharField(max_length=40, blank=True)
    code = models.TextField()
    position = models.PositiveIntegerField(default=0, help_text="Order within its body or comment.")
    is_python = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_python", "comment_id", "position"]

    def __str__(self):
        return f"code block {self.position} of {self.report_id}"


# --------------------------------------------------------------------------- fuzzer crashes


class FuzzerAccount(models.Model):
    """A user account that a fuzzer posts crash reports with (its API token is the user's)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fuzzer_account")
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class CrashGroup(models.Model):
    """Every occurrence with one signature; the group is one Report (kind crash)."""

    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="crash_group")
    signature = models.CharField(max_length=64, unique=True, help_text="sha256 of the signature text.")
    signature_text = models.TextField(help_text="Crash type and the top meaningful frames, normalised.")
    crash_type = models.CharField(max_length=300, blank=True)
    framework = models.CharField(max_length=32, db_index=True)
    api = models.CharField(max_length=300, blank=True)
    oracle = models.CharField(max_length=32, db_index=True)
    from_message = models.BooleanField(default=False, help_text="The trace could not be parsed: signed by message.")
    occurrence_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True, db_index=True)
    versions_seen = models.JSONField(default=list, blank=True)
    devices_seen = models.JSONField(default=list, blank=True)
    fuzzers_seen = models.JSONField(default=list, blank=True)
    smallest_reproducer = models.TextField(blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    possibly_known = models.ManyToManyField(Report, blank=True, related_name="possible_crash_groups")

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            # The crash list's two sorts (triage.crashes.selectors.SORTS), over the groups it shows.
            NullsLastIndex(
                models.F("occurrence_count").desc(),
                models.F("last_seen").desc(nulls_last=True),
                "id",
                condition=models.Q(merged_into__isnull=True),
                name="crashgroup_by_count_idx",
            ),
            NullsLastIndex(
                models.F("last_seen").desc(nulls_last=True),
                "id",
                condition=models.Q(merged_into__isnull=True),
                name="crashgroup_by_recent_idx",
            ),
        ]

    def __str__(self):
        return f"{self.crash_type or self.oracle}: {self.signature[:12]}"


class CrashOccurrence(models.Model):
    group = models.ForeignKey(CrashGroup, on_delete=models.CASCADE, related_name="occurrences")
    account = models.ForeignKey(FuzzerAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    client_id = models.CharField(max_length=200, help_text="The fuzzer's own id; re-sending it changes nothing.")
    fuzzer = models.CharField(max_length=100)
    framework = models.CharField(max_length=32)
    framework_version = models.CharField(max_length=64, blank=True)
    api = models.CharField(max_length=300, blank=True)
    device = models.CharField(max_length=32, blank=True)
    oracle = models.CharField(max_length=32)
    message = models.TextField(blank=True)
    stack_trace = models.TextField(blank=True)
    reproducer = models.TextField(blank=True)
    signature = models.CharField(max_length=64, db_index=True, help_text="Its own signature, kept after merges.")
    kept_frames = models.JSONField(default=list, blank=True, help_text="The frames the signature used.")
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the fuzzer found it.")
    received_at = models.DateTimeField(auto_now_add=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["fuzzer", "client_id"], name="one_occurrence_per_client_id")]

    def __str__(self):
        return f"{self.fuzzer}:{self.client_id}"


class GroupDecision(models.Model):
    """A recorded merge or split of crash groups."""

    class Kind(models.TextChoices):
        MERGE = "merge", "Merge"
        SPLIT = "split", "Split"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    group = models.ForeignKey(CrashGroup, on_delete=models.CASCADE, related_name="decisions")
    other = models.ForeignKey(CrashGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    signatures = models.JSONField(default=list, blank=True, help_text="Signatures moved by a split.")
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.kind} of group {self.group_id}"


# --------------------------------------------------------------------------- reproduction


class Device(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"


class Reproducer(models.Model):
    """A script attached to a report, with its environment and the oracle that says the bug showed."""

    class Oracle(models.TextChoices):
        CRASH = "crash", "Crash: the run fails (and its trace matches the report's signature)"
        ASSERTION = "assertion", "Assertion: the script exits non-zero when the bug is present"
        DIFFERENTIAL = "differential", "Differential: two configurations give different results"
        HANG = "hang", "Hang: the run exceeds its time limit"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="reproducers")
    code_block = models.ForeignKey(
        CodeBlock,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reproducers",
        help_text="The extracted code block the script came from, if any.",
    )
    title = models.CharField(max_length=200, blank=True)
    script = models.TextField(help_text="Python source, run as main.py in an empty scratch directory.")
    requirements = models.TextField(
        blank=True, help_text="One requirement per line or separated by spaces, e.g. torch==2.13.0 numpy<2."
    )
    oracle = models.CharField(max_length=16, choices=Oracle.choices, default=Oracle.CRASH)
    device = models.CharField(max_length=8, choices=Device.choices, default=Device.CPU)
    timeout_seconds = models.PositiveIntegerField(default=300, help_text="Wall time limit of one run.")
    memory_mb = models.PositiveIntegerField(default=4096, help_text="Memory limit of one run.")
    # A differential reproducer's second configuration (side b); side a is device + requirements.
    compare_device = models.CharField(max_length=8, choices=Device.choices, blank=True)
    compare_requirements = models.TextField(blank=True)
    rtol = models.FloatField(default=1e-5)
    atol = models.FloatField(default=1e-8)
    expectation = models.JSONField(
        default=dict,
        blank=True,
        help_text="The failure that shows the bug: exception_type, message_pattern, exit_code, signal, signature, "
        "source (taken from the report or given when attaching).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title or f"reproducer {self.pk} of report {self.report_id}"


class Environment(models.Model):
    """A set of requirements; each runner host builds it once and caches it by ``key``."""

    key = models.CharField(max_length=64, unique=True, help_text="sha256 of requirements, Python and base.")
    requirements = models.TextField(blank=True, help_text="Normalised, one per line.")
    python = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_built_at = models.DateTimeField(null=True, blank=True)
    last_build_ok = models.BooleanField(null=True)
    last_build_seconds = models.FloatField(null=True, blank=True)
    last_build_log = models.TextField(blank=True, help_text="Tail of the last build's log.")

    def __str__(self):
        return f"environment {self.key[:12]}"


class Runner(models.Model):
    """A Celery worker that runs reproductions (queue repro.cpu or repro.gpu)."""

    name = models.CharField(max_length=255, unique=True, help_text="The Celery node name, e.g. celery@gpu-01.")
    hostname = models.CharField(max_length=255, blank=True)
    device = models.CharField(max_length=8, choices=Device.choices, default=Device.CPU)
    queues = models.JSONField(default=list, blank=True)
    cuda_version = models.CharField(max_length=32, blank=True)
    gpus = models.JSONField(default=list, blank=True)
    frameworks = models.JSONField(default=dict, blank=True, help_text="Preinstalled frameworks and versions.")
    python = models.CharField(max_length=32, blank=True)
    sandbox = models.CharField(max_length=200, blank=True, help_text="e.g. bubblewrap 0.8.0.")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Reproduction(models.Model):
    """One request: run a reproducer N times (a check), or bisect it over package versions."""

    class Kind(models.TextChoices):
        CHECK = "check", "Check"
        BISECT = "bisect", "Bisect"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    reproducer = models.ForeignKey(Reproducer, on_delete=models.CASCADE, related_name="reproductions")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CHECK)
    repeat = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    reproduced_count = models.PositiveIntegerField(default=0)
    finished_count = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=300, blank=True, help_text='e.g. "reproduced 7/10".')
    # Bisection: the package whose versions are searched, in order (oldest first).
    package = models.CharField(max_length=200, blank=True)
    versions = models.JSONField(default=list, blank=True)
    bisect_result = models.JSONField(
        default=dict, blank=True, help_text="mode (introduced, fixed, no_change, inconclusive), last_good, first_bad."
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind} {self.pk} of reproducer {self.reproducer_id}"


class ReproductionRun(models.Model):
    """One execution of a reproducer in the sandbox; its state lives here, not in the broker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    class Verdict(models.TextChoices):
        REPRODUCED = "reproduced", "Reproduced"
        NOT_REPRODUCED = "not_reproduced", "Not reproduced"
        CRASHED_DIFFERENTLY = "crashed_differently", "Crashed differently"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        LIMIT_EXCEEDED = "limit_exceeded", "Stopped by a sandbox limit"
        BUILD_FAILED = "build_failed", "Environment build failed"
        REFUSED = "refused", "Refused (no sandbox on the runner)"
        LOST = "lost", "Lost (runner died twice)"

    class Side(models.TextChoices):
        ONLY = "", "Single"
        A = "a", "Side A"
        B = "b", "Side B"

    reproduction = models.ForeignKey(Reproduction, on_delete=models.CASCADE, related_name="runs")
    reproducer = models.ForeignKey(Reproducer, on_delete=models.CASCADE, related_name="runs")
    index = models.PositiveIntegerField(default=0, help_text="Repeat number, or bisection step.")
    side = models.CharField(max_length=1, choices=Side.choices, blank=True, default="")
    version = models.CharField(max_length=100, blank=True, help_text="Bisection: the version this step tried.")
    device = models.CharField(max_length=8, choices=Device.choices, default=Device.CPU)
    requirements = models.TextField(blank=True, help_text="The requirements this run used, normalised.")
    queue = models.CharField(max_length=32, default="repro.cpu")
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    verdict = models.CharField(max_length=24, choices=Verdict.choices, blank=True)
    verdict_detail = models.TextField(blank=True)
    verdict_reason = models.CharField(
        max_length=32, blank=True, help_text="matched, different_failure, missing_module, script_syntax, ..."
    )
    verdict_hint = models.TextField(blank=True, help_text="What to change so the run can show the bug.")
    expectation = models.JSONField(default=dict, blank=True, help_text="The expectation this verdict compared.")
    expectation_matched = models.BooleanField(
        default=False, help_text="Reproduced by matching an expectation: only such runs suggest labels."
    )
    verdict_history = models.JSONField(
        default=list,
        blank=True,
        help_text="Every verdict given: [{at, verdict, reason, detail, expectation, by, rules}].",
    )
    attempt = models.PositiveSmallIntegerField(default=0, help_text="How many times a runner started it.")
    runner = models.ForeignKey(Runner, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    worker_pid = models.IntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    signal = models.IntegerField(null=True, blank=True)
    limit_hit = models.CharField(max_length=16, blank=True, help_text="wall_time, cpu_time, memory, file_size, ...")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    peak_memory_kb = models.PositiveBigIntegerField(null=True, blank=True)
    stdout_tail = models.TextField(blank=True)
    stderr_tail = models.TextField(blank=True)
    stdout_bytes = models.PositiveBigIntegerField(default=0, help_text="Bytes written in all; beyond the tail dropped.")
    stderr_bytes = models.PositiveBigIntegerField(default=0)
    outputs = models.JSONField(default=dict, blank=True, help_text="Captured results: name -> shape, dtype, preview.")
    captures = models.BinaryField(null=True, blank=True, help_text="Captured arrays as an .npz file.")
    comparison = models.JSONField(default=dict, blank=True, help_text="Differential: side a against side b.")
    signature = models.CharField(max_length=64, blank=True, help_text="Crash oracle: the run's own signature.")

    class Meta:
        ordering = ["reproduction_id", "index", "side"]
        indexes = [
            models.Index(fields=["status", "queued_at"]),
            # A runner claims the oldest queued run of its queue (ORDER BY queued_at, id LIMIT 1): an index in
            # that order over queued runs only, so the claim walks it instead of every row ever queued.
            models.Index(
                fields=["queue", "queued_at", "id"], condition=models.Q(status="queued"), name="run_queued_claim_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["reproduction", "index", "side"], name="one_run_per_step_and_side")
        ]

    def __str__(self):
        return f"run {self.pk} ({self.status})"
