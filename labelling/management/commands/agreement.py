"""Print a study's inter-annotator agreement as a table or as JSON."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from labelling.agreement import bootstrap as bs
from labelling.agreement.render import agreement_json, agreement_table
from labelling.agreement.selectors import codebook_version_parse, study_agreement
from labelling.models import Study
from labelling.selectors.rounds import round_and_pass_param


class Command(BaseCommand):
    help = (
        "Agreement of a study's annotators, per dimension: items with >= 2 labels, raters, labels, percent "
        "agreement, Fleiss' kappa (items with the same number of labels), Krippendorff's alpha (nominal, ordinal, "
        "or MASI for multiple choice), Gwet's AC1, 95%% bootstrap intervals, Cohen's kappa per pair of "
        "annotators (weighted for ordinal scales), per-category kappas, parent-level figures for hierarchical "
        "codebooks, each with its Landis & Koch (1977) band. --format json prints the same JSON as "
        "GET /api/studies/SLUG/agreement/."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug (as in /studies/<slug>/).")
        parser.add_argument(
            "--dimension", action="append", dest="dimensions", metavar="CODE", help="Only this dimension (repeatable)."
        )
        parser.add_argument("--round", metavar="ID_OR_NAME", help="Only this calibration round's items.")
        parser.add_argument(
            "--pass",
            dest="pass_number",
            metavar="N",
            help="With --round: the labels of this pass (default the current).",
        )
        parser.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json.")
        parser.add_argument("--resamples", type=int, default=bs.RESAMPLES, help="Bootstrap resamples (default 1000).")
        parser.add_argument("--seed", type=int, default=bs.SEED, help="Bootstrap seed.")
        parser.add_argument(
            "--codebook-version",
            metavar="N",
            help="Only labels saved under codebook version N or earlier (agreement before a codebook change).",
        )

    def handle(
        self,
        *args,
        slug,
        dimensions=None,
        format="table",
        resamples=bs.RESAMPLES,
        seed=bs.SEED,
        codebook_version=None,
        round=None,
        pass_number=None,
        **options,
    ):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True)[:10]) or "none yet"
            raise CommandError(f"No study with slug '{slug}'. Known studies: {known}.")
        if not 0 <= resamples <= 100_000:
            raise CommandError("--resamples must be between 0 and 100000.")
        try:
            version = codebook_version_parse(study, codebook_version)
            round_, pass_ = round_and_pass_param(study=study, round_raw=round, pass_raw=pass_number)
            result = study_agreement(
                study=study,
                dimension_codes=dimensions,
                resamples=resamples,
                seed=seed,
                codebook_version=version,
                round=round_,
                pass_number=pass_,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if result["codebook"]["note"] and format == "table":
            self.stdout.write(result["codebook"]["note"] + "\n")
        self.stdout.write(agreement_json(result) if format == "json" else agreement_table(result))
