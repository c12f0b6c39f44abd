import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Load every view now (the first request would), then move the objects made at start-up out of the
# garbage collector's reach: a full collection then walks only what requests create, instead of
# the ~1M long-lived objects of Django, DRF, numpy, pyarrow and plotly (130 ms pauses on list pages).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
gc.freeze()
