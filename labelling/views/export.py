"""Download a study's dataset (wide CSV, long CSV or JSONL) from the study page, streamed."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from labelling.dataset.export import CONTENT_TYPES, FORMATS, export_chunks, export_filename
from labelling.permissions import can_read_results, study_for


def streaming_export_response(*, study, fmt: str) -> StreamingHttpResponse:
    """A download of the whole study, written as it is read (used by the page and the API)."""
    response = StreamingHttpResponse(export_chunks(study=study, fmt=fmt), content_type=CONTENT_TYPES[fmt])
    filename = export_filename(study=study, fmt=fmt, date=timezone.localdate())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def study_export(request, slug: str, fmt: str):
    study = study_for(request.user, slug, check=can_read_results)
    if fmt not in FORMATS:
        raise Http404(f"No export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    return streaming_export_response(study=study, fmt=fmt)
