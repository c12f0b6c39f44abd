"""Export a study's dataset as wide CSV, long CSV or JSONL, streamed to stdout or a file."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labelling.dataset.export import FORMATS, export_chunks
from labelling.models import Study, StudyItem


class Command(BaseCommand):
    help = (
        "Export every item of a study. csv (default): one row per item, one column per dimension holding "
        "the final label as a code (codes joined by ';' for multiple choice), then n_annotations_complete, "
        "status_<dimension> (final, disagreement, pending or empty: what an empty final cell means) and "
        "method_<dimension> (how the final label was decided). long: one row per item, annotator and "
        "dimension with value, note, time_spent_ms, created_at and updated_at (ISO 8601, UTC). jsonl: adds "
        "final_labels with their method and status, every annotator's labels with notes, time and "
        "timestamps, and report facts. See docs/dataset.md for every column. "
        "Written as it is read, so memory stays flat for any study size. "
        "Spreadsheet safety: in both CSVs, every text cell (source_id, title, labels, notes, ...) starting "
        "with =, +, -, @, a tab or a carriage return is prefixed with a single quote (') so spreadsheets show "
        "it as text instead of running it as a formula; numbers are left alone. The CSVs are for "
        "spreadsheets: programs should read the JSONL, whose values are exactly as stored. "
        "With --output, the study's agreement figures (the JSON of `manage.py agreement SLUG --format json`) "
        "are written beside the export file, to <output>.agreement.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug (as in /studies/<slug>/).")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="csv",
            help="csv (default, one row per item), long (one row per label) or jsonl.",
        )
        parser.add_argument("--output", "-o", help="File to write; stdout when not given.")

    def handle(self, *args, slug, format, output=None, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True)[:10]) or "none yet"
            raise CommandError(f"No study with slug '{slug}'. Known studies: {known}.")
        if not output or output == "-":
            for chunk in export_chunks(study=study, fmt=format):
                self.stdout.write(chunk, ending="")
            return
        try:
            fh = open(output, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise CommandError(f"Cannot write '{output}': {exc.strerror}. Give a writable path with --output.") from exc
        total = StudyItem.objects.filter(study=study).count()
        with fh, tqdm(total=total, unit="items", file=sys.stderr, disable=None, desc=f"{slug}.{format}") as bar:
            for chunk in export_chunks(study=study, fmt=format, progress=bar.update):
                fh.write(chunk)
        wrote = f"Wrote the {total} items of study '{slug}' to {output}"
        if os.path.isfile(output):  # not /dev/null or a pipe, where there is no "beside"
            # Imported here: the statistics libraries weigh about 160 MB of memory, which an export
            # to stdout or a pipe (and the export itself) does not need.
            from labelling.agreement.render import agreement_json
            from labelling.agreement.selectors import study_agreement

            agreement_path = f"{output}.agreement.json"
            try:
                with open(agreement_path, "w", encoding="utf-8") as fh:
                    fh.write(agreement_json(study_agreement(study=study)))
            except OSError as exc:
                raise CommandError(f"Cannot write '{agreement_path}': {exc.strerror}.") from exc
            wrote += f", its agreement figures to {agreement_path}"
        if options["verbosity"] >= 1:
            self.stderr.write(wrote + ".")
