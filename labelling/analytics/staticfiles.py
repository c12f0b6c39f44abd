"""``js/plotly.min.js`` served from the installed plotly package: no copy in the repository, no
CDN. This staticfiles finder makes the package's own bundle (``plotly/package_data/plotly.min.js``,
the plotly.js build the Python package was made with) a static file, so ``collectstatic`` copies
it into STATIC_ROOT and WhiteNoise serves it in development (``WHITENOISE_USE_FINDERS``)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

STATIC_PATH = "js/plotly.min.js"


def plotly_bundle() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs):
        if not plotly_bundle().is_file():
            from django.core.checks import Error

            return [Error(f"plotly.min.js is missing from the plotly package ({plotly_bundle()}): reinstall plotly.")]
        return []

    def find(self, path, find_all=False, **kwargs):
        find_all = find_all or kwargs.get("all", False)
        if path == STATIC_PATH and plotly_bundle().is_file():
            found = str(plotly_bundle())
            return [found] if find_all else found
        return []

    def list(self, ignore_patterns):
        bundle = plotly_bundle()
        if bundle.is_file():
            storage = FileSystemStorage(location=str(bundle.parent))
            storage.prefix = STATIC_PATH.rpartition("/")[0]
            yield bundle.name, storage
