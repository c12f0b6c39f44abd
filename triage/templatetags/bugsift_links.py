from django import template

from triage.links import web_url

register = template.Library()


@register.filter(name="web_url")
def web_url_filter(value) -> str:
    """``{% with href=report.url|web_url %}{% if href %}<a href="{{ href }}">...``: only http(s)."""
    return web_url(value)
