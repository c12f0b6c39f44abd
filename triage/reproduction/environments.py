"""Python environments for reproductions: parse requirements, build a virtualenv once, cache it by hash.

    parse_requirements(text) -> list[str]          normalised, sorted PEP 508 requirements
    pin(requirements, package, version) -> list[str]
    environment_key(requirements, python=, system_site_packages=, wheel_dir=, offline=) -> str
    python_version(base_python) -> "3.11"
    environment_ensure(requirements, root=, base_python=, ...) -> BuildResult

Layout under ``root/envs``: ``<key>/`` is the venv, ``<key>.ok`` marks a finished good build (and
keeps its log), ``<key>.failed`` holds the log of a failed build (cached too, so a requirement that
cannot be met is not retried on every run), ``<key>.lock`` is flocked around check and build so
two runners never build the same environment at once. A directory without ``.ok`` is a build that
was killed half way: it is removed and built again.

Requirements are untrusted (they come from bug reports), so only named packages from the index or
the wheel folder are accepted, and pip runs with ``--only-binary=:all:``: no sdist's setup.py ever
runs on the host. The scripts themselves run later, inside the sandbox, never here.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

LOG_TAIL_CHARS = 20_000
KEY_FORMAT = 1  # bump to invalidate every cached environment after a change in how they are built
EXAMPLE = 'torch==2.13.0 numpy<2   (or one per line, e.g. "numpy >= 1.0")'
_OPERATOR_START = ("<", ">", "=", "!", "~", ",", "[", ";", "(", ")")
_OPERATOR_END = ("<", ">", "=", "!", "~", ",", "[", ";", "(")
_PATH_LIKE = re.compile(r"^(\.{0,2}/|~(?!=)|[A-Za-z]:\\)|\.(whl|zip|tar\.gz|tgz|tar\.bz2|egg)$", re.IGNORECASE)
# Environment variables the installer must not see: it does not need them and logs can leak them.
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL|BROKER_URL|_KEY$|^KEY$", re.I)


class RequirementsError(ValueError):
    """A requirement that cannot be used; the message names the bad entry and shows a valid example."""


# --------------------------------------------------------------------------- parsing


def _refuse_unnamed(token: str, line_no: int) -> None:
    """Only named packages: options, URLs and paths could fetch or run anything."""
    where = f"line {line_no}: "
    if token.startswith("-"):
        raise RequirementsError(
            f"{where}{token!r} is an installer option; options are not accepted (only named packages from the "
            f"index or the wheel folder). Example: {EXAMPLE}"
        )
    if "://" in token or token.startswith(("git+", "hg+", "svn+", "bzr+", "file:")) or _PATH_LIKE.search(token):
        raise RequirementsError(
            f"{where}{token!r} is a URL or a path; only named packages from the index or the wheel folder are "
            f"accepted. Put a local wheel in the runner's wheel folder and name its package instead. Example: {EXAMPLE}"
        )


def _looks_like_bare_version(token: str) -> bool:
    """'numpy 1.0' is almost certainly a forgotten '==', not a package called '1.0'."""
    if not token[:1].isdigit():
        return False
    try:
        Version(token)
    except InvalidVersion:
        return False
    return True


def _parses(text: str) -> bool:
    try:
        Requirement(text)
    except InvalidRequirement:
        return False
    return True


def _split_line(line: str, line_no: int) -> list[str]:
    """Split one line into requirements: whitespace separates requirements, but an operator, a comma,
    extras or a marker glue the tokens around them ("numpy >= 1.0, < 2" is one requirement).
    A marker (after ';') runs to the end of its line."""
    pieces: list[str] = []
    current = ""
    for token in line.split():
        _refuse_unnamed(token, line_no)
        if not current:
            current = token
            continue
        glue = (
            ";" in current
            or not _parses(current)
            or token.startswith(_OPERATOR_START)
            or current.endswith(_OPERATOR_END)
        )
        if glue:
            current = f"{current} {token}"
            continue
        if _looks_like_bare_version(token):
            raise RequirementsError(
                f"line {line_no}: {token!r} after {current!r} looks like a version without an operator; "
                f"write {current}=={token}. Example: {EXAMPLE}"
            )
        pieces.append(current)
        current = token
    if current:
        pieces.append(current)
    return pieces


def _normalise(text: str, line_no: int) -> tuple[str, str]:
    """(canonical name, normalised requirement string) of one requirement."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementsError(
            f"line {line_no}: {text!r} is not a valid requirement ({' '.join(str(exc).split())}). Example: {EXAMPLE}"
        ) from None
    if req.url:
        raise RequirementsError(
            f"line {line_no}: {text!r} names a URL; only named packages from the index or the wheel folder are "
            f"accepted. Example: {EXAMPLE}"
        )
    return canonicalize_name(req.name), _format(req)


def _format(req: Requirement) -> str:
    """name[extras]specifier; marker with the canonical name and sorted extras and specifiers."""
    name = canonicalize_name(req.name)
    extras = f"[{','.join(sorted(canonicalize_name(e) for e in req.extras))}]" if req.extras else ""
    specifier = ",".join(sorted(str(s) for s in req.specifier))
    marker = f"; {req.marker}" if req.marker else ""
    return f"{name}{extras}{specifier}{marker}"


def parse_requirements(text: str) -> list[str]:
    """Parse whitespace- or newline-separated PEP 508 requirements into a sorted, normalised list.

    Comments (#) and blank lines are ignored; a package named twice is refused (which of the two
    pins did the reporter mean?); URLs, paths, ``-e`` and other options are refused.
    """
    found: dict[str, str] = {}
    for line_no, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for piece in _split_line(line, line_no):
            name, normalised = _normalise(piece, line_no)
            if name in found:
                raise RequirementsError(
                    f"line {line_no}: {name!r} is named twice ({found[name]!r} and {normalised!r}); "
                    f"keep one, e.g. combine the specifiers: numpy>=1.0,<2"
                )
            found[name] = normalised
    return [found[name] for name in sorted(found)]


def pin(requirements: list[str], package: str, version: str) -> list[str]:
    """The requirements with package pinned to ==version (replacing its specifier, keeping extras
    and marker), added if absent. Used by bisection: one environment per version."""
    name = canonicalize_name(package)
    if not name or not _parses(name):
        raise RequirementsError(f"{package!r} is not a package name. Example: pin(reqs, 'torch', '2.13.0')")
    if not version or not _parses(f"{name}=={version}"):
        raise RequirementsError(f"{version!r} is not a version to pin {name} to. Example: pin(reqs, 'torch', '2.13.0')")
    pinned: list[str] = []
    replaced = False
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == name:
            req.specifier = Requirement(f"{name}=={version}").specifier
            replaced = True
        pinned.append(_format(req))
    if not replaced:
        pinned.append(f"{name}=={version}")
    return sorted(pinned, key=lambda r: canonicalize_name(Requirement(r).name))


def environment_key(
    requirements: list[str], *, python: str, system_site_packages: bool, wheel_dir: str, offline: bool
) -> str:
    """sha256 of everything that decides what gets installed: same key, same environment."""
    payload = {
        "format": KEY_FORMAT,
        "requirements": sorted(requirements),
        "python": python,
        "system_site_packages": bool(system_site_packages),
        "wheel_dir": wheel_dir or "",
        "offline": bool(offline),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- building


@dataclass
class BuildResult:
    ok: bool
    key: str
    env_dir: Path
    python: Path
    log: str
    seconds: float
    cached: bool


@lru_cache(maxsize=32)
def python_version(base_python: str) -> str:
    """The interpreter's "major.minor", asked once per interpreter (it is part of the cache key:
    a venv built for 3.11 is useless to 3.12)."""
    try:
        proc = subprocess.run(
            [base_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(
            f"cannot run the base Python {base_python!r} ({exc}); set it to an interpreter path"
        ) from None
    out = proc.stdout.strip()
    if proc.returncode != 0 or not re.fullmatch(r"\d+\.\d+", out):
        raise RuntimeError(
            f"the base Python {base_python!r} did not report its version (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}; set it to a working interpreter, e.g. /usr/bin/python3"
        )
    return out


def _tail(text: str) -> str:
    if len(text) <= LOG_TAIL_CHARS:
        return text
    return "[... log truncated ...]\n" + text[-LOG_TAIL_CHARS:]


def _installer_env() -> dict[str, str]:
    """The host environment without secrets: the installer needs PATH, HOME, proxies and its own
    PIP_*/UV_* configuration, never the app's keys or database."""
    return {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k) or k.startswith(("PIP_", "UV_"))}


def _run(cmd: list[str], deadline: float) -> tuple[bool, str]:
    """Run one build command in its own process group; (ok, combined output). Past the deadline the
    whole group is killed and the output says so."""
    remaining = deadline - time.monotonic()
    header = "$ " + " ".join(cmd) + "\n"
    if remaining <= 0:
        return False, header + "build timed out before this step started\n"
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_installer_env(),
            start_new_session=True,
        )
    except OSError as exc:
        return False, header + f"could not start: {exc}\n"
    try:
        out, _ = proc.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        text = out.decode(errors="replace")
        note = "build timed out: the installer was killed at the build's time limit (raise the timeout)"
        return False, header + text + f"\n{note}\n"
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        return False, header + text + f"\nexit code {proc.returncode}\n"
    return True, header + text


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _uv_binary() -> str | None:
    """uv on the PATH, or installed beside the running interpreter (``pip install uv`` in its venv)."""
    beside = Path(sys.executable).parent / "uv"
    return shutil.which("uv") or (str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None)


def _use_uv(installer: str) -> bool:
    """``auto`` takes uv only from the PATH: uv ignores pip's configuration (find-links, constraints)."""
    if installer == "uv":
        return True
    if installer == "pip":
        return False
    if installer == "auto":
        return shutil.which("uv") is not None
    raise ValueError(f"installer must be 'auto', 'uv' or 'pip', not {installer!r}")


def _install_command(
    requirements: list[str], *, env_python: Path, wheel_dir: str, offline: bool, use_uv: bool
) -> list[str]:
    """uv or pip (of the running interpreter, aimed at the venv), binary wheels only."""
    sources: list[str] = (["--no-index"] if offline else []) + (["--find-links", wheel_dir] if wheel_dir else [])
    if use_uv:
        uv = _uv_binary() or "uv"
        return [uv, "pip", "install", "--python", str(env_python), "--only-binary", ":all:", *sources, *requirements]
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(env_python),
        "install",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        *sources,
        *requirements,
    ]


def _build(
    requirements: list[str],
    *,
    env_dir: Path,
    base_python: str,
    system_site_packages: bool,
    wheel_dir: str,
    offline: bool,
    installer: str,
    timeout: float,
) -> tuple[bool, str]:
    """Create the venv and install into it; (ok, log)."""
    deadline = time.monotonic() + timeout
    venv_cmd = [base_python, "-m", "venv", "--without-pip"]
    venv_cmd += ["--system-site-packages"] if system_site_packages else []
    ok, log = _run([*venv_cmd, str(env_dir)], deadline)
    if not ok or not requirements:
        return ok, log + ("" if ok else "\ncould not create the virtualenv\n")
    if wheel_dir and not Path(wheel_dir).is_dir():
        return False, log + f"\nthe wheel folder {wheel_dir!r} does not exist; create it or unset it\n"
    cmd = _install_command(
        requirements,
        env_python=env_dir / "bin" / "python",
        wheel_dir=wheel_dir,
        offline=offline,
        use_uv=_use_uv(installer),
    )
    ok, install_log = _run(cmd, deadline)
    return ok, log + install_log


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


# Environments this process found or built ready, by what it was asked: a successful build is never
# changed in place, so a later run with the same requirements skips the parse, hash, lock and marker reads
# (an environment removed from disk since, e.g. by a cleanup, is looked up and built again).
_ready: dict[tuple, BuildResult] = {}


def environment_ensure(
    requirements: list[str],
    *,
    root: Path,
    base_python: str,
    system_site_packages: bool = False,
    wheel_dir: str = "",
    offline: bool = False,
    installer: str = "auto",
    timeout: float = 1800,
    rebuild_failed: bool = False,
) -> BuildResult:
    """The environment for these requirements, built now or found in the cache.

    A failed build is a result (ok=False, its log), not an exception: the run's verdict is
    build_failed. It is cached as failed; ``rebuild_failed=True`` tries again.
    """
    started = time.monotonic()
    asked = (tuple(requirements), str(root), base_python, system_site_packages, wheel_dir, offline)
    ready = _ready.get(asked)
    if ready is not None and ready.python.exists():  # built and checked already by this process
        return dataclasses.replace(ready, seconds=time.monotonic() - started, cached=True)
    requirements = parse_requirements("\n".join(requirements))
    envs = Path(root) / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    try:
        version = python_version(base_python)
    except RuntimeError as exc:
        return BuildResult(False, "", envs, envs / "missing-python", str(exc), time.monotonic() - started, False)
    key = environment_key(
        requirements, python=version, system_site_packages=system_site_packages, wheel_dir=wheel_dir, offline=offline
    )
    env_dir, ok_mark, failed_mark = envs / key, envs / f"{key}.ok", envs / f"{key}.failed"
    python = env_dir / "bin" / "python"

    def result(ok: bool, log: str, cached: bool) -> BuildResult:
        return BuildResult(ok, key, env_dir, python, _tail(log), time.monotonic() - started, cached)

    with open(envs / f"{key}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ok_mark.exists() and python.exists():
            _ready[asked] = found = result(True, ok_mark.read_text(errors="replace"), True)
            return found
        if failed_mark.exists() and not rebuild_failed:
            return result(False, failed_mark.read_text(errors="replace"), True)
        for stale in (env_dir, ok_mark, failed_mark):  # a killed half build, or a retry of a failed one
            _remove(stale)
        ok, log = _build(
            requirements,
            env_dir=env_dir,
            base_python=base_python,
            system_site_packages=system_site_packages,
            wheel_dir=wheel_dir,
            offline=offline,
            installer=installer,
            timeout=timeout,
        )
        log = _tail(log)
        if ok:
            ok_mark.write_text(log)
            _ready[asked] = result(True, log, True)
        else:
            _remove(env_dir)
            failed_mark.write_text(log)
        return result(ok, log, False)
