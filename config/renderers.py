"""DRF's browsable API under our Content-Security-Policy; content negotiation for data downloads.

Its pages load every script from static files (script-src 'self' holds) but style themselves
inline (a <style> of Pygments colours, style= attributes): only those responses may.
"""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer as DRFBrowsableAPIRenderer

INLINE_STYLES = {"style-src": ["'unsafe-inline'"]}  # django-csp's per-response update


class BrowsableAPIRenderer(DRFBrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = INLINE_STYLES  # what csp.decorators.csp_update sets
        return super().render(data, accepted_media_type, renderer_context)


class FormatNamesTheDataFormat(DefaultContentNegotiation):
    """For views whose ``?format=`` names the data's format (csv, jsonl, ...), not a DRF renderer: the
    first renderer answers (JSON for errors); the view writes the data in the format asked for itself."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type
