"""Crash signatures: parse a printed stack trace, normalise it, drop glue, hash what is left.

    sign(framework=, oracle=, api=, message=, stack_trace=) -> Signed

Traces are read line by line, whatever mix the fuzzer printed:

* Python tracebacks (``File "x.py", line 3, in f``; most recent call last) and faulthandler
  dumps (``File "x.py", line 3 in f``; most recent call first). Only the last traceback counts.
* native frames, innermost first: gdb/ASan ``#0 0x7f.. in func (file:line)``, PyTorch
  ``frame #0: func + 0x8c (0x7f.. in libc10.so)``, MXNet ``[bt] (0) libmxnet.so(func+0x12) [0x..]``,
  glibc ``lib.so(func+0x12) [0x..]`` and TensorFlow's ``*** Begin stack trace ***`` block.

The frames, innermost first (native, then Python), are normalised (addresses, line numbers,
argument lists, template arguments ``<...>``, anonymous namespaces, build paths stripped) and
glue frames are dropped by the rules in ``signature_rules``. The signature text is the framework,
the crash type and the top three frames left; a Python-only trace adds its normalised message
(its frames alone rarely tell two checks of one op apart). When no frame is left the signature
is made from the message and ``from_message`` is set. Oracles without a stack (mismatches,
NaN/Inf, a timeout without trace) are signed by oracle + API + normalised message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from triage.crashes.signature_rules import rules_for

TOP_FRAMES = 3
STACKLESS_ORACLES = ("cpu_gpu_mismatch", "version_mismatch", "nan_inf")
MESSAGE_LIMIT = 300


@dataclass(slots=True)
class Frame:
    raw: str
    key: str  # "py:<path>:<func>" or "c:<func>"
    status: str = "kept"  # kept | dropped | beyond
    reason: str = ""


@dataclass(slots=True)
class Signed:
    signature: str
    text: str
    crash_type: str
    from_message: bool
    frames: list[Frame] = field(default_factory=list)

    @property
    def kept_frames(self) -> list[str]:
        return [f.key for f in self.frames if f.status == "kept"]


# --------------------------------------------------------------------------- parsing

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<func>\S.*?)\s*$')
_FAULTHANDLER_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+ in (?P<func>\S+)\s*$')
_TORCH_FRAME = re.compile(r"^\s*frame #\d+: (?P<func>.+?)(?: \+ 0x[0-9a-fA-F]+)?(?: \(0x[0-9a-fA-F]+ in [^)]*\))?\s*$")
_MXNET_FRAME = re.compile(
    r"^\s*\[bt\] \(\d+\) (?P<lib>\S+?)\((?P<func>.*)\+0x[0-9a-fA-F]+\)\s*(?:\[0x[0-9a-fA-F]+\])?\s*$"
)
_GLIBC_FRAME = re.compile(r"^\s*(?P<lib>/\S+?)\((?P<func>.*)\+0x[0-9a-fA-F]+\)\s*\[0x[0-9a-fA-F]+\]\s*$")
_BARE_ADDRESS = re.compile(r"^\S+\(\) \[0x")
_HASH_FRAME = re.compile(r"^\s*#\d+\s+(?P<rest>.+)$")
_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Failure|Interrupt|Exit|Fault))(?::\s*(?P<msg>.*))?$"
)
_ASAN = re.compile(r"ERROR: (?P<tool>AddressSanitizer|UndefinedBehaviorSanitizer|MemorySanitizer): (?P<kind>[\w-]+)")
_SIGNALS = [
    (re.compile(r"Segmentation fault|SIGSEGV"), "SIGSEGV"),
    (re.compile(r"Floating point exception|SIGFPE"), "SIGFPE"),
    (re.compile(r"Illegal instruction|SIGILL"), "SIGILL"),
    (re.compile(r"Bus error|SIGBUS"), "SIGBUS"),
    (re.compile(r"\bAborted\b|SIGABRT|abort\(\)"), "SIGABRT"),
]


def parse(trace: str) -> tuple[str, str, list[Frame]]:
    """(crash type, exception message, frames innermost first) of a printed trace."""
    native: list[Frame] = []
    python: list[Frame] = []
    python_order_last = True
    exc_type, exc_msg = "", ""
    in_tf_block = False
    for line in trace.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if "*** Begin stack trace ***" in stripped:
            in_tf_block = True
            continue
        if "*** End stack trace ***" in stripped:
            in_tf_block = False
            continue
        if in_tf_block:
            native.append(Frame(stripped, "c:" + normalise_function(stripped)))
            continue
        if stripped == "Traceback (most recent call last):":
            python, python_order_last = [], True
            continue
        if stripped.startswith("Current thread") or stripped.startswith("Thread 0x"):
            python, python_order_last = [], False
            continue
        first = stripped[0]
        if first == "F" and stripped.startswith('File "'):
            if m := (_PY_FRAME.match(line) or _FAULTHANDLER_FRAME.match(line)):
                python.append(Frame(stripped, f"py:{normalise_path(m['file'])}:{m['func']}"))
                continue
        elif first == "f" and stripped.startswith("frame #"):
            if m := _TORCH_FRAME.match(line):
                func = m["func"]
                func = "" if func.startswith("<unknown") or _BARE_ADDRESS.match(func) else func
                native.append(Frame(stripped, "c:" + normalise_function(func)))
                continue
        elif first == "[" or first == "/":
            if m := (_MXNET_FRAME.match(line) or _GLIBC_FRAME.match(line)):
                native.append(Frame(stripped, "c:" + normalise_function(m["func"])))
                continue
        elif first == "#":
            if m := _HASH_FRAME.match(line):
                native.append(Frame(stripped, "c:" + normalise_function(_hash_frame_function(m["rest"]))))
                continue
        if line[0] != " " and (m := _EXCEPTION.match(line)):
            exc_type, exc_msg = m["type"].rsplit(".", 1)[-1], (m["msg"] or "").strip()
    if python_order_last:
        python.reverse()
    return _crash_type(trace, exc_type), exc_msg, native + python


def _crash_type(trace: str, exc_type: str) -> str:
    if m := _ASAN.search(trace):
        return f"{m['tool']}: {m['kind']}"
    if exc_type:
        return exc_type
    if "Check failed" in trace:
        return "CheckFailed"
    for pattern, name in _SIGNALS:
        if pattern.search(trace):
            return name
    return ""


def _hash_frame_function(rest: str) -> str:
    """The function of a gdb/ASan ``#N`` frame (address, location and library stripped)."""
    rest = re.sub(r"^0x[0-9a-fA-F]+\s+", "", rest)
    rest = re.sub(r"^in\s+", "", rest)
    if rest.startswith("("):  # "#1 0x7f (/lib/libc.so.6+0x29d90)": an address only
        return ""
    rest = re.sub(r"\s+at\s+\S+:\d+\s*$", "", rest)  # gdb "at file.cc:12"
    rest = re.sub(r"\s+\([^()]*(?:/|\+0x|:\d+)[^()]*\)\s*$", "", rest)  # "(file:line)" or "(lib+0x12)"
    rest = re.sub(r"\s+\S*/\S*:\d+(?::\d+)?\s*$", "", rest)  # ASan "/path/file.cc:12:3"
    return rest


# --------------------------------------------------------------------------- normalisation

_PACKAGE_ROOT = re.compile(r".*(?:^|/)((?:tensorflow|torch|jax|jaxlib|mxnet|keras|numpy|paddle|oneflow)/.*)$")
_USER_PREFIX = re.compile(r"^(?:/home/[^/]+|/Users/[^/]+|/root|/tmp/[^/]+|/workspace|/content|/app)/")


@lru_cache(maxsize=16384)
def normalise_path(path: str) -> str:
    """A Python file path without the machine- and build-specific prefix."""
    p = path.replace("\\", "/")
    if p.startswith("<"):
        return p
    if m := re.search(r"(?:site|dist)-packages/(.*)$", p):
        return m[1]
    if m := _PACKAGE_ROOT.match(p):
        return m[1]
    if m := re.search(r"/lib/python\d(?:\.\d+)?/(.*)$", p):
        return "stdlib/" + m[1]
    return _USER_PREFIX.sub("", p)


def _strip_balanced(text: str, open_: str, close: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == open_:
            depth += 1
        elif ch == close and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=65536)
def normalise_function(name: str) -> str:
    """A C++/C function name without arguments, template arguments, ABI tags or anonymous namespaces."""
    s = name.strip()
    if not s or s.startswith("0x") or s.startswith("+0x"):
        return ""
    s = re.sub(r"\[abi:\w+\]", "", s)
    s = s.replace("(anonymous namespace)::", "").replace("{anonymous}::", "")
    s = re.sub(r"\{lambda\(.*?\)#\d+\}", "{lambda}", s)
    s = (
        s.replace("operator<<", "operator\x01")
        .replace("operator<", "operator\x02")
        .replace("operator->", "operator\x03")
    )
    s = s.replace("operator()", "operator\x04")
    s = _strip_balanced(s, "<", ">")
    cut = s.find("(")
    if cut > 0:
        s = s[:cut]
    s = s.replace("\x01", "<<").replace("\x02", "<").replace("\x03", "->").replace("\x04", "()")
    s = re.sub(r"\.(?:isra|constprop|part|cold|lto_priv|localalias)(?:\.\d+)?", "", s)
    s = re.sub(r"\s+", " ", s).strip()
    if " " in s and "operator" not in s:
        s = s.rsplit(" ", 1)[-1]  # drop a return type
    return s


def normalise_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first line of a message with numbers, hex, paths, shapes and device names stripped."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    s = lines[0] if lines else ""
    s = re.sub(r"\{\{function_node [^}]*\}\}", "", s)  # TensorFlow wrapped-function prefix
    s = re.sub(r"\s+name:\s*\S*\s*$", "", s)  # TensorFlow op name suffix
    s = re.sub(r"^\[\d+:\d+:\d+\]\s*", "", s)  # MXNet/glog time stamp
    s = re.sub(r"0x[0-9a-fA-F]+", "0x?", s)
    s = re.sub(r"(?:[\w.-]*/)+[\w.-]+\.\w+(?::\d+)*", "<path>", s)
    s = re.sub(r"/job:\S+", "<device>", s)
    s = re.sub(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])", "N", s)
    s = re.sub(r"N(?:\s*[,x]\s*N)+", "N", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s[:limit]


# --------------------------------------------------------------------------- signing


@lru_cache(maxsize=65536)
def glue_reason(framework: str, key: str) -> str | None:
    """Why a frame is glue (the first matching rule's reason), or None when it is meaningful."""
    return next((why for pattern, why in rules_for(framework) if pattern.search(key)), None)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign(*, framework: str, oracle: str, api: str = "", message: str = "", stack_trace: str = "") -> Signed:
    """The signature of one crash report."""
    framework = (framework or "").lower()
    if oracle in STACKLESS_ORACLES or (oracle == "timeout" and not stack_trace.strip()):
        text = f"framework: {framework}\noracle: {oracle}\napi: {api}\nmessage: {normalise_message(message)}"
        return Signed(_digest(text), text, oracle, False, [])

    crash_type, exc_msg, frames = parse(stack_trace or "")
    crash_type = crash_type or oracle
    kept = 0
    for frame in frames:
        reason = glue_reason(framework, frame.key)
        if reason is not None:
            frame.status, frame.reason = "dropped", reason
        elif kept >= TOP_FRAMES:
            frame.status, frame.reason = "beyond", f"beyond the top {TOP_FRAMES}"
        else:
            kept += 1
    used = [f.key for f in frames if f.status == "kept"]
    msg = normalise_message(exc_msg or message)
    lines = [f"framework: {framework}", f"type: {crash_type}", *(f"frame: {key}" for key in used)]
    if not used:
        # All frames were glue: type + message. Nothing parsed at all: the API too (a bare
        # "Segmentation fault" says nothing on its own).
        lines += [f"message: {msg}"] if frames else [f"api: {api}", f"message: {msg}"]
        text = "\n".join(lines)
        return Signed(_digest(text), text, crash_type, True, frames)
    if all(key.startswith("py:") for key in used) and not any(f.key.startswith("c:") for f in frames):
        lines.append(f"message: {msg}")
    text = "\n".join(lines)
    return Signed(_digest(text), text, crash_type, False, frames)
