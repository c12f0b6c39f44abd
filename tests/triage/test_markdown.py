"""triage/markdown.py: untrusted markdown rendered, highlighted and sanitised."""

import re

import pytest
from django.template import Context, Template

from triage.markdown import render_markdown


def test_markdown_is_rendered():
    html = render_markdown("# Title\n\n**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<table>" in html and "<td>1</td>" in html


@pytest.mark.parametrize(
    "text, forbidden",
    [
        ("<script>alert(1)</script>", r"<script"),
        ('<img src="x" onerror="alert(1)">', r"<img"),
        ('<img src=x onerror=alert(1)> ![x](https://example.org/a.png "onerror=alert(1)")', r"<[^>]*\sonerror\s*="),
        ("[click](javascript:alert(1))", r"<a[^>]*javascript"),
        ("[click](JaVaScRiPt:alert(1))", r"<a[^>]*javascript"),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", r"<a[^>]*data:"),
        ("<javascript:alert(1)>", r"<a[^>]*javascript"),
        ('<a href="https://example.org" onclick="steal()">x</a>', r"<a href"),
        ("<iframe src=https://evil.example></iframe>", r"<iframe"),
        ("<style>body{display:none}</style>", r"<style"),
    ],
)
def test_dangerous_input_is_neutralised(text, forbidden):
    assert not re.search(forbidden, render_markdown(text), re.IGNORECASE)


def test_raw_html_is_shown_as_text():
    html = render_markdown("<b>not bold</b>")
    assert "<b>" not in html and "&lt;b&gt;not bold&lt;/b&gt;" in html


def test_links_keep_http_and_get_rel_noopener():
    html = render_markdown("[docs](https://pytorch.org/docs)")
    assert 'href="https://pytorch.org/docs"' in html and "noopener" in html


def test_fenced_code_is_highlighted():
    html = render_markdown("```python\nimport torch\nx = torch.ones(2)\n```")
    assert 'class="hl-kn"' in html and "torch" in html
    assert "hl-" in render_markdown("```\nprint('no language: python assumed')\n```")
    assert "<pre>" in render_markdown("```nosuchlanguage\nplain\n```")


def test_empty_and_huge_input():
    assert render_markdown("") == "" and render_markdown(None) == ""
    assert "truncated for display" in render_markdown("a" * 300_000)


def test_template_filter():
    out = Template("{% load bugsift_markdown %}{{ body|markdown }}").render(
        Context({"body": "*hi* <script>x</script>"})
    )
    assert "<em>hi</em>" in out and "<script>" not in out


@pytest.mark.parametrize(
    "text, href, label",
    [
        ('![loss curve](https://t.example/p.png?u=1 "curve")', "https://t.example/p.png?u=1", "image: loss curve"),
        ("![](http://t.example/pixel.gif)", "http://t.example/pixel.gif", "image: http://t.example/pixel.gif"),
        ('[![badge](https://ci.example/b.svg)](https://ci.example/run)', "https://ci.example/run", "image: badge"),
    ],
)
def test_remote_images_are_links_never_loaded(text, href, label):
    """A report author must not learn who reads the report (a tracking pixel): no <img>, a link."""
    html = str(render_markdown(text))
    assert "<img" not in html and "src=" not in html
    assert f'href="{href.replace("&", "&amp;")}"' in html
    assert label in html


def test_an_image_with_a_script_url_is_not_a_link():
    html = str(render_markdown("![x](javascript:alert(1)) ![y](data:text/html,hi)"))
    assert "<img" not in html
    assert 'href="javascript' not in html and 'href="data' not in html
