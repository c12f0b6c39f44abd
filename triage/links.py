"""Links to the outside world that a page may render: http(s) web addresses only.

Report URLs, linked pull requests and notebook links come from strangers (report files, GitHub
payloads). ``web_url`` is the one check: at ingestion the GitHub pipeline keeps only web
addresses, and every template renders such a link through the ``web_url`` filter
(``triage/templatetags/bugsift_links.py``), so a stored ``javascript:`` or ``data:`` URL never
becomes a link.
"""

from __future__ import annotations

import re

_WEB_URL = re.compile(r"https?://[^\s/?#\\@]+(?:[/?#][^\s]*)?", re.IGNORECASE)


def web_url(value) -> str:
    """``value`` stripped if it is an http:// or https:// address with a host, else ""."""
    url = str(value or "").strip()
    if not _WEB_URL.fullmatch(url) or any(ord(ch) < 32 for ch in url):
        return ""
    return url
