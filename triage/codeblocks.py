"""Code blocks in a report's markdown: the candidate reproduction scripts.

    extract_code_blocks(text) -> list[Block]      fenced (``` and ~~~) and indented blocks, in order
    looks_like_python(code) -> bool

Pure (no database). One extractor for every source: GitHub syncs, report files (JSONL/CSV), the
demo and ``manage.py extract_code_blocks`` for reports stored before.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

PYTHON_LANGUAGES = {"python", "py", "python3", "py3", "pycon", "ipython", "python2"}


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    position: int
    is_python: bool


FENCE_RE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
PYTHON_HINTS = re.compile(
    r"^\s*(import \w|from [\w.]+ import |def \w+\(|class \w+[(:]|print\(|>>> |\w+\s*=\s*\w+\.\w+\()", re.M
)


def looks_like_python(code: str) -> bool:
    """Parses as Python and has a Python-looking statement (plain prose also parses rarely)."""
    text = "\n".join(
        line[4:] if line.startswith(">>> ") or line.startswith("... ") else line for line in code.splitlines()
    )
    if not PYTHON_HINTS.search(code):
        return False
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return bool(re.search(r"^\s*(import \w|from [\w.]+ import )", code, re.M))
    return True


def extract_code_blocks(text: str) -> list[Block]:
    """Fenced (``` and ~~~, with their language) and indented (4 spaces, after a blank line)
    code blocks, in order. ``is_python`` when the language says python/py or the code looks
    like Python. Unclosed fences run to the end, as in CommonMark."""
    if not text:
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[tuple[str, str]] = []
    i, previous_blank = 0, True
    while i < len(lines):
        line = lines[i]
        fence = FENCE_RE.match(line)
        if fence:
            marker, info = fence["fence"], fence["info"].strip()
            language = info.split()[0].lower() if info else ""
            body: list[str] = []
            i += 1
            while i < len(lines):
                closing = lines[i].strip()
                if closing.startswith(marker[0] * len(marker)) and set(closing) == {marker[0]}:
                    break
                body.append(lines[i])
                i += 1
            blocks.append((language, "\n".join(body)))
            i += 1
            previous_blank = True
            continue
        if previous_blank and (line.startswith("    ") or line.startswith("\t")) and line.strip():
            body = []
            while i < len(lines) and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                body.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            blocks.append(("", "\n".join(body)))
            previous_blank = True
            continue
        previous_blank = not line.strip()
        i += 1
    result = []
    for position, (language, code) in enumerate(b for b in blocks if b[1].strip()):
        is_python = language in PYTHON_LANGUAGES or (language == "" and looks_like_python(code))
        result.append(Block(language=language[:40], code=code, position=position, is_python=is_python))
    return result
