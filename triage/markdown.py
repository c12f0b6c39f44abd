"""Render untrusted markdown (issue bodies, comments, notes) to safe HTML.

markdown-it-py renders (CommonMark + tables + strikethrough, raw HTML left as text), Pygments
highlights fenced code, and nh3 sanitises the result: only a fixed set of tags and
attributes survives, links keep only http(s)/mailto, and every link gets rel="noopener
nofollow". The output is marked safe only after sanitising.

Images are never loaded: a remote image would tell its author who reads the report and when
(a tracking pixel), so ``![alt](url)`` becomes a link to the image, labelled with its alt
text, which the reader can follow deliberately. The Content-Security-Policy's ``img-src``
backs this up.
"""

import hashlib
from functools import lru_cache

import nh3
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a",
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "span",
    "div",
    "em",
    "strong",
    "del",
    "s",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_INPUT_CHARS = 200_000
# Bump the version when the rendering or the sanitising rules change.
CACHE_PREFIX = "markdown:v2"
CACHE_SECONDS = 24 * 3600

_formatter = HtmlFormatter(nowrap=True, classprefix="hl-")


def _highlight(code: str, lang: str, _attrs) -> str:
    lang = (lang or "").strip().lower()
    try:
        lexer = get_lexer_by_name(lang) if lang else PythonLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, _formatter)


def _image_as_link(renderer, tokens, idx, options, env) -> str:
    """``![alt](src "title")`` as ``<a href="src">image: alt</a>``: shown, not fetched."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    label = escapeHtml(f"image: {alt}")
    if not src:
        return label
    return f'<a href="{escapeHtml(src)}" title="{escapeHtml(str(token.attrGet("title") or src))}">{label}</a>'


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    return md


def render_markdown(text: str | None) -> SafeString:
    """Rendered and sanitised HTML for ``text``, kept in the cache by a hash of the text
    (the same text always renders the same, so a cached copy is never stale)."""
    if not text:
        return mark_safe("")
    key = f"{CACHE_PREFIX}:{hashlib.blake2b(text.encode('utf-8', 'surrogatepass'), digest_size=20).hexdigest()}"
    clean = cache.get(key)
    if clean is None:
        clean = _render_and_sanitise(text)
        cache.set(key, clean, CACHE_SECONDS)
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 in _render_and_sanitise


def _render_and_sanitise(text: str) -> str:
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS] + "\n\n*(truncated for display)*"
    html = _renderer().render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow noreferrer",
    )
