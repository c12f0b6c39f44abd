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

import ijson

MAX_DEPTH = 900
TOO_DEEP = "nested too deeply (lists and objects over about 900 levels deep); flatten the data"


def loads(text: str | bytes, **kwargs):
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text if isinstance(text, str) else "", 0) from None


def iter_values(stream, *, max_depth: int = MAX_DEPTH) -> Iterator:
    """The elements of a top-level JSON list in ``stream`` (a binary file), one at a time; the
    one value if the top level is not a list.

    The body is never held whole: ijson reads it in 64 KB chunks and each element is built and
    handed on before the next is read. Bad JSON (trailing text included) and JSON nested more
    than ``max_depth`` levels raise ``json.JSONDecodeError`` (a ValueError), as ``loads`` does.
    Numbers are ints and floats, as with ``json``. ijson's C parser cannot hold an integer over
    64 bits; for such a body (a seekable file) the rest is read with ``loads`` instead, so the
    values are the same as ``loads`` gives, only held in memory.
    """
    start = stream.tell() if stream.seekable() else None
    yielded = 0
    try:
        for value in _iter_values(stream, max_depth=max_depth):
            yielded += 1
            yield value
    except BigInteger:
        if start is None:
            raise json.JSONDecodeError("an integer is too large (over 64 bits) to stream", "", 0) from None
        stream.seek(start)
        data = loads(stream.read())
        yield from (data if isinstance(data, list) else [data])[yielded:]


class BigInteger(Exception):
    """ijson's C parser met an integer that does not fit in 64 bits."""


def _iter_values(stream, *, max_depth: int) -> Iterator:
    stack: list[list | dict] = []
    keys: list[str | None] = []
    in_top_list = None
    try:
        for event, value in ijson.basic_parse(stream, use_float=True):
            if in_top_list is None:
                in_top_list = event == "start_array"
                if in_top_list:
                    continue
            if event == "map_key":
                keys[-1] = value
                continue
            if event in ("start_map", "start_array"):
                if len(stack) + bool(in_top_list) >= max_depth:
                    raise json.JSONDecodeError(TOO_DEEP, "", 0)
                stack.append({} if event == "start_map" else [])
                keys.append(None)
                continue
            if event in ("end_map", "end_array"):
                if not stack:
                    continue  # the end of the top-level list
                value = stack.pop()
                keys.pop()
            if not stack:
                yield value
            elif isinstance(parent := stack[-1], list):
                parent.append(value)
            else:
                parent[keys[-1]] = value
    except ijson.JSONError as exc:
        if "integer overflow" in str(exc):
            raise BigInteger from None
        raise json.JSONDecodeError(str(exc).strip() or "incomplete JSON", "", 0) from None


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
