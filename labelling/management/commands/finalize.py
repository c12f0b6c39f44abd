"""Set the decision rule of a study's dimensions and recompute their automatic final labels."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labelling import decision_rules
from labelling.models import Dimension, Study
from labelling.services.decision_rules import decision_rule_set


class Command(BaseCommand):
    help = (
        "Store the decision rule of the study's dimensions (all of them, or those named with --dimension) "
        "and recompute their automatic final labels for every item: 'unanimous' (every annotator who "
        "finished the item gave the same value), 'majority' (one value chosen by more than --threshold x the "
        "annotators who finished the item; 0.5 = strictly more than half) or 'adjudication' (no automatic "
        "labels). Without --rule the stored rules are applied again. Adjudicated and imported final labels "
        "are never touched. Prints the final labels created, changed and removed per dimension."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug.")
        parser.add_argument("--rule", help=f"One of: {', '.join(decision_rules.RULES)}.")
        parser.add_argument("--threshold", help="Majority threshold, from 0.5 up to (not including) 1.")
        parser.add_argument(
            "--dimension", action="append", default=[], help="A dimension code; repeat for several. Default: all."
        )

    def handle(self, *args, slug, rule=None, threshold=None, dimension=(), **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug '{slug}'. Check the slug on the study page.")
        try:
            changes = decision_rule_set(study=study, rule=rule, threshold=threshold, dimension_codes=dimension)
        except ValidationError as exc:
            messages = [f"{field}: {m}" for field, ms in exc.message_dict.items() for m in ms]
            if "dimensions" in exc.message_dict:
                codes = Dimension.objects.filter(codebook__study=study).values_list("code", flat=True)
                messages.append(f"Valid dimensions: {', '.join(codes) or '(none)'}.")
            if "rule" in exc.message_dict:
                messages.append(f"Valid rules: {', '.join(decision_rules.RULES)}.")
            raise CommandError("\n".join(messages)) from exc
        self.stdout.write(f"Decision rules of '{study.slug}':")
        for change in changes:
            self.stdout.write(f"  {change.summary()}")
