"""Reading test responses the same way everywhere."""

import re

_CSRF = re.compile(r'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[A-Za-z0-9]+')


def body_text(response) -> str:
    """The response body with the per-request CSRF masks blanked (they differ on every render)."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return _CSRF.sub(r"\1-", body.decode(errors="replace"))
