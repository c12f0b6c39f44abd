"""What failure a reproducer expects: parsed from what the user typed or taken from a report's text.

    parse_expect("IndexError: index out of range") -> Expectation     (also "exit 3", "SIGSEGV")
    expectation_from_text(markdown, source=) -> Expectation | None     the last traceback of an issue body
    observed_failure(stderr, framework=) -> Observed                   what a run printed last
    compare(expectation, observed) -> (matched, why)

Pure (no Django), so the management commands, the worker and the tests share it. Tracebacks are read
with the crash-signature parser (``triage.crashes.signatures.parse``): the exception of the *last*
traceback counts, which is the one a chained exception (``During handling of the above exception``,
``The above exception was the direct cause``) ends with and the one a run's stderr ends with.

A message pattern matches when, after both are normalised like crash messages (numbers, addresses,
paths and device names replaced, case ignored), the pattern is part of the run's message: so
``index 5 is out of bounds`` taken from an issue still matches a run that says ``index 7``.
"""

from __future__ import annotations

import html
import re
import signal as signals
from dataclasses import asdict, dataclass

from triage.crashes.signatures import normalise_message, parse

TRACEBACK_HEADER = "Traceback (most recent call last):"
MAX_TEXT = 200_000  # only the first characters of a huge issue body are searched
_TYPE = re.compile(r"^[A-Za-z_][\w.]*$")
_EXIT = re.compile(r"^(?:exit(?:\s+code)?|exit_code|code)\s*[:=]?\s*(?P<code>-?\d+)$", re.I)
_SIGNAL = re.compile(r"^(?:signal\s*[:=]?\s*)?(?P<name>SIG[A-Z0-9]+|\d+)$", re.I)
_HTML_TAG = re.compile(r"</?(?:details|summary|pre|code|br|p|div|b|i|strong|em|sup|sub)\b[^>]*>", re.I)
_FENCE = re.compile(r"^\s{0,3}(?:`{3,}|~{3,})[^\n`]*$")
_QUOTE = re.compile(r"^\s{0,3}>\s?")


class ExpectationError(ValueError):
    """What the user typed is not an expectation; the message says what is."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expected failure. Any combination may be set; each one that is set must hold."""

    exception_type: str = ""  # the class name, e.g. IndexError (a dotted path is cut to its last part)
    message_pattern: str = ""
    exit_code: int | None = None
    signal: int | None = None
    signature: str = ""  # a crash group's signature (sha256)
    source: str = ""  # where it came from: "given", "crash group", "issue body", "comment 2", "assertion"

    @property
    def empty(self) -> bool:
        return not (self.exception_type or self.exit_code is not None or self.signal or self.signature)

    def describe(self) -> str:
        """One line for pages and JSON, e.g. ``IndexError: index out of range`` or ``exit code 3``."""
        parts = []
        if self.exception_type:
            parts.append(self.exception_type + (f": {self.message_pattern}" if self.message_pattern else ""))
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.signal:
            parts.append(f"signal {signal_name(self.signal)}")
        if self.signature:
            parts.append(f"signature {self.signature[:12]}")
        return ", ".join(parts) or "nothing"

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}

    @classmethod
    def from_dict(cls, data) -> Expectation:
        if not isinstance(data, dict):
            return cls()
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Observed:
    """The failure a run shows: the exception of its last traceback, or the signal that killed it."""

    exception_type: str = ""
    message: str = ""
    exit_code: int | None = None
    signal: int | None = None

    def describe(self) -> str:
        if self.exception_type:
            return self.exception_type + (f": {self.message[:200]}" if self.message else "")
        if self.signal:
            return f"killed by signal {signal_name(self.signal)}"
        if self.exit_code not in (None, 0):
            return f"exit code {self.exit_code} without a traceback"
        return "no failure"


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_number(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 64:
            raise ExpectationError(f"{text} is not a signal number (1 to 64).")
        return number
    try:
        return int(signals.Signals[text.upper()])
    except KeyError:
        raise ExpectationError(f"{text} is not a signal name; use e.g. SIGSEGV, SIGABRT or SIGFPE.") from None


def short_type(name: str) -> str:
    return name.strip().rsplit(".", 1)[-1]


def parse_expect(text: str, *, source: str = "given") -> Expectation:
    """``"IndexError"``, ``"IndexError: index out of range"``, ``"exit 3"``, ``"SIGSEGV"`` (or empty)."""
    text = (text or "").strip()
    if not text:
        return Expectation()
    if len(text) > 500:
        raise ExpectationError("The expected failure is longer than 500 characters; keep the type and a short message.")
    if m := _EXIT.match(text):
        code = int(m["code"])
        if not 1 <= code <= 255:
            raise ExpectationError(f"An expected exit code is a number from 1 to 255 (got {code}).")
        return Expectation(exit_code=code, source=source)
    if m := _SIGNAL.match(text):
        if m["name"].upper().startswith("SIG") or text.lower().startswith("signal"):
            return Expectation(signal=_signal_number(m["name"]), source=source)
    name, colon, pattern = text.partition(":")
    name = name.strip()
    if not _TYPE.match(name):
        raise ExpectationError(
            f"{text[:60]!r} is not an expected failure: give an exception type, optionally with a message "
            "after a colon (IndexError: index out of range), an exit code (exit 3) or a signal (SIGSEGV)."
        )
    return Expectation(exception_type=short_type(name), message_pattern=pattern.strip() if colon else "", source=source)


# --------------------------------------------------------------------------- tracebacks in report text


def _plain_lines(text: str) -> list[str]:
    """Markdown as a traceback parser can read it: HTML tags (<details>, <summary>, <pre>) and fence lines
    dropped, quotes unquoted, entities unescaped (a traceback pasted inside <pre> has &lt;module&gt;)."""
    out = []
    for line in text[:MAX_TEXT].replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            out.append("")
            continue
        line = _QUOTE.sub("", line)
        line = _HTML_TAG.sub("", line)
        out.append(html.unescape(line))
    return out


def last_traceback(text: str) -> str:
    """The last ``Traceback (most recent call last):`` block of a text, up to its exception line (and
    the indented or unindented continuation lines a multi-line message has), or ""."""
    lines = _plain_lines(text or "")
    starts = [i for i, line in enumerate(lines) if line.strip() == TRACEBACK_HEADER]
    if not starts:
        return ""
    block = []
    seen_frame = False
    for line in lines[starts[-1] :]:
        stripped = line.strip()
        block.append(line.rstrip())
        if stripped.startswith('File "'):
            seen_frame = True
            continue
        # The first unindented line after the frames that is not a frame is the exception line.
        if seen_frame and stripped and not line[:1].isspace() and stripped != TRACEBACK_HEADER:
            break
    return "\n".join(block).strip()


def expectation_from_text(text: str, *, source: str) -> Expectation | None:
    """The exception type and message of the last traceback in an issue body or comment, or None."""
    trace = last_traceback(text)
    if not trace:
        return None
    exc_type, message, _frames = parse(trace)
    last = trace.splitlines()[-1].strip()
    if not exc_type or exc_type.startswith(("AddressSanitizer", "UndefinedBehaviorSanitizer", "MemorySanitizer")):
        return None
    if exc_type in ("CheckFailed", "SIGSEGV", "SIGFPE", "SIGILL", "SIGBUS", "SIGABRT"):
        return None  # not a Python exception line: the traceback was cut before its end
    if not message and ":" in last:
        message = last.partition(":")[2].strip()
    return Expectation(exception_type=short_type(exc_type), message_pattern=_pattern(message), source=source)


def _pattern(message: str) -> str:
    """A message as a pattern: its first line, without a TensorFlow op suffix, at most 200 characters."""
    first = next((line.strip() for line in (message or "").splitlines() if line.strip()), "")
    first = re.sub(r"\s*\[Op:\w+\](?:\s*name:.*)?$", "", first)
    return first[:200].strip()


# --------------------------------------------------------------------------- what a run showed


_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s*(?P<msg>.*))?$")


def _exception_line(lines: list[str]) -> tuple[str, str]:
    """(type, message) of the last unindented ``Name: message`` line, for a trace without the
    Traceback header (a SyntaxError in main.py is printed without one) or an exception class the
    signature parser does not know (StopIteration)."""
    for line in reversed(lines):
        if not line.strip() or line[:1].isspace():
            continue
        m = _EXCEPTION_LINE.match(line.strip())
        if m and (m["msg"] is not None or m["type"][:1].isupper()) and not m["type"].startswith("File"):
            return m["type"], (m["msg"] or "").strip()
        return "", ""
    return "", ""


def observed_failure(stderr: str, *, exit_code: int | None, signal: int | None) -> Observed:
    """The exception a run's stderr ends with (its last traceback), else its exit code or signal."""
    trace = last_traceback(stderr or "")
    exc_type, message = "", ""
    if trace:
        exc_type, message, _ = parse(trace)
        if not exc_type or not _TYPE.match(exc_type):
            exc_type, message = _exception_line(trace.splitlines())
    elif exit_code not in (None, 0):
        lines = (stderr or "").strip().splitlines()
        if any(line.strip().startswith('File "') for line in lines[-6:]):
            exc_type, message = _exception_line(lines)
    return Observed(
        exception_type=short_type(exc_type) if exc_type else "",
        message=message or "",
        exit_code=exit_code,
        signal=signal,
    )


def message_matches(pattern: str, message: str) -> bool:
    if not pattern:
        return True
    want = normalise_message(pattern, limit=1000).lower()
    seen = normalise_message(message, limit=1000).lower()
    return want in seen or pattern.strip().lower() in (message or "").lower()


def compare(expectation: Expectation, observed: Observed, *, run_signature: str = "") -> tuple[bool, str]:
    """Whether the run's failure is the expected one, and a short reason when it is not."""
    problems = []
    if expectation.signature and run_signature != expectation.signature:
        problems.append(f"its signature {run_signature[:12] or '(none)'} is not {expectation.signature[:12]}")
    if expectation.exception_type:
        if observed.exception_type != expectation.exception_type:
            problems.append(f"it raised {observed.describe()}, not {expectation.exception_type}")
        elif not message_matches(expectation.message_pattern, observed.message):
            problems.append(f"its message {observed.message[:200]!r} does not match {expectation.message_pattern!r}")
    if expectation.exit_code is not None and observed.exit_code != expectation.exit_code:
        problems.append(f"it ended with {observed.describe()}, not exit code {expectation.exit_code}")
    if expectation.signal and observed.signal != expectation.signal:
        problems.append(f"it ended with {observed.describe()}, not signal {signal_name(expectation.signal)}")
    return not problems, "; ".join(problems)
