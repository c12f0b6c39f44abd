"""JSON from outside (request bodies, report and crash files): parsed safely.

``json.loads`` raises RecursionError, not a ValueError, on JSON nested about a thousand
levels deep, which every ``except ValueError`` would miss (a 500). ``loads`` turns it into a
``json.JSONDecodeError`` (a ValueError) that says what is wrong. ``nul_paths`` finds the
strings (keys included) that hold a NUL character, which PostgreSQL cannot store in text or
jsonb; it walks without recursion, so any depth that parsed can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

TOO_DEEP = "nested too deeply (lists and objects over about 900 levels deep); flatten the data"


def loads(text: str | bytes, **kwargs):
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text if isinstance(text, str) else "", 0) from None


def nul_paths(value, root: str = "$", limit: int = 5) -> list[str]:
    """JSON paths (``$.items[3].extra.seed``) of up to ``limit`` strings or keys that hold a NUL."""
    found: list[str] = []
    for path in _nul_paths(value, root):
        found.append(path)
        if len(found) >= limit:
            break
    return found


def _nul_paths(value, root: str) -> Iterator[str]:
    stack = [(root, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                yield path
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key!r}]"
                if isinstance(key, str) and "\x00" in key:
                    yield f"{path} (a key)"
                stack.append((child.replace("\x00", "\\u0000"), item))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(node))))
