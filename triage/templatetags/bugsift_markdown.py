from django import template

from triage.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """``{{ report.body|markdown }}``: rendered, highlighted and sanitised."""
    return render_markdown(text)
