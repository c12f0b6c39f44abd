from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelling.permissions import studies_visible_to


@login_required
def study_list(request):
    studies = studies_visible_to(request.user).select_related("codebook")
    return render(request, "labelling/study_list.html", {"studies": studies})
