"""Run one hostile script under bubblewrap with limits.

    sandbox_status() -> SandboxStatus
    interpreter_binds(python) -> list[Path]
    run_script(script=, python=, scratch=, limits=, device=, ro_binds=, extra_env=, unsafe_no_sandbox=) -> SandboxResult

Every script is treated as hostile. As root (how runners are deployed) bubblewrap runs WITHOUT a user
namespace and the script is dropped to an unprivileged, per-worker-process uid with ``setpriv``, so
RLIMIT_NPROC (counted per uid) keeps one sandbox's fork bomb from starving another worker's runs.
Inside there is no network (a private, empty network namespace), a read-only /usr, the interpreter's
own directories, the capture helper at /opt/bugsift, a minimal /etc, and one writable place: the
scratch directory at /scratch. The environment is cleared and rebuilt from a short list, so no secret of
the worker (DATABASE_URL, DJANGO_SECRET_KEY, ...) reaches the script. Limits are rlimits set before
bubblewrap starts (inherited by everything inside) plus a wall clock enforced here with SIGKILL.

When the worker is not root, bubblewrap makes a user namespace (``--unshare-user --uid 65534``) instead
of setpriv; RLIMIT_NPROC then counts all of the worker user's processes, so keep ``Limits.processes``
well above what the worker itself runs.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import resource
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "Install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap; Fedora: dnf install bubblewrap)."

# Django-free module: the path comes from the environment (BUGSIFT_SANDBOX_BWRAP, docs/deploy.md).
BWRAP_PATH = Path(os.environ.get("BUGSIFT_SANDBOX_BWRAP") or "/usr/bin/bwrap")
SETPRIV_PATH = Path("/usr/bin/setpriv")
CAPTURE_HELPER_DIR = Path(__file__).resolve().parent / "capture"
APP_ROOT = Path(__file__).resolve().parents[2]  # the repository: never visible inside the sandbox
SANDBOX_HELPER_DIR = "/opt/bugsift"  # where CAPTURE_HELPER_DIR appears inside the sandbox
SANDBOX_SCRATCH = "/scratch"
SANDBOX_PATH = "/usr/bin:/bin"
NOBODY = 65534
# /etc entries a Python interpreter and common libraries need; missing ones are skipped.
ETC_BINDS = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "ssl",
    "alternatives",
)
_READ_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20  # bigger pipes: fewer wake-ups when a script floods its output
_DRAIN_SECONDS = 2.0  # after the sandbox exited, how long stray pipe holders may keep us reading
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_PROCESS_MARKERS = ("BlockingIOError", "Resource temporarily unavailable", "can't start new thread")
_FILE_SIZE_MARKERS = ("File too large",)


class SandboxUnavailable(Exception):
    """bubblewrap is missing or unusable and the unsafe setting is off; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Limits:
    wall_seconds: float = 300.0
    cpu_seconds: int | None = None  # None: the wall time, rounded up
    memory_mb: int = 4096  # RLIMIT_DATA per process (heap and private mappings; not CUDA's address reservations)
    processes: int = 256  # RLIMIT_NPROC for the sandbox's uid
    file_size_mb: int = 1024
    output_bytes: int = 64 * 1024  # per stream: the tail kept; the rest counted and dropped

    def effective_cpu_seconds(self) -> int:
        """The CPU limit in whole seconds (rlimits have no fractions): the wall time when unset."""
        return self.cpu_seconds if self.cpu_seconds is not None else max(1, math.ceil(self.wall_seconds))


@dataclass(slots=True)
class SandboxStatus:
    available: bool
    description: str  # "bubblewrap 0.8.0" / "UNSAFE: no sandbox" / why not available + INSTALL_HINT


@dataclass(slots=True)
class SandboxResult:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    duration_s: float
    peak_memory_kb: int
    stdout_tail: str
    stderr_tail: str
    stdout_bytes: int  # everything the script wrote, including what was dropped
    stderr_bytes: int
    limit_hit: str = ""  # "" | wall_time | cpu_time | memory | file_size | processes
    captures_dir: Path | None = None  # where bugsift_capture.save() wrote, read after the run
    notes: list[str] = field(default_factory=list)  # e.g. "output capped: 1,073,741,824 bytes dropped"
    cpu_time_s: float = 0.0  # user + system CPU of the sandbox's processes that were waited for
    setup_error: str = ""  # bubblewrap itself failed before the script ran (its message); not a verdict


# --------------------------------------------------------------------------- status


@functools.lru_cache(maxsize=8)
def _probe_bwrap(bwrap: str, as_root: bool) -> SandboxStatus:
    """Ask bwrap for its version and start one trivial sandbox: a present but unusable bwrap (no user
    namespaces in a container, missing setuid bit) must be reported before any script is accepted."""
    if not os.path.exists(bwrap):
        return SandboxStatus(False, f"bubblewrap not found at {bwrap}. {INSTALL_HINT}")
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        return SandboxStatus(False, f"bubblewrap at {bwrap} cannot be started ({exc}). {INSTALL_HINT}")
    cmd = [bwrap, "--ro-bind", "/usr", "/usr", *_usr_symlinks(), "--proc", "/proc", "--dev", "/dev"]
    cmd += ["--unshare-all", "--die-with-parent"] if as_root else ["--unshare-all", "--uid", str(NOBODY)]
    cmd += ["/usr/bin/true"]
    try:
        trial = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, f"bubblewrap at {bwrap} failed a trial run ({exc}). {INSTALL_HINT}")
    if trial.returncode != 0:
        why = trial.stderr.strip() or f"exit status {trial.returncode}"
        return SandboxStatus(
            False,
            f"bubblewrap at {bwrap} is installed but cannot create a sandbox here ({why}); it needs root or "
            f"unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1). {INSTALL_HINT}",
        )
    return SandboxStatus(True, version.stdout.strip() or "bubblewrap")


def sandbox_status(*, unsafe_no_sandbox: bool = False) -> SandboxStatus:
    """Whether scripts can run here, and how (shown on the runners page and in `reproduce` output)."""
    if unsafe_no_sandbox:
        return SandboxStatus(True, "UNSAFE: no sandbox (BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX is for development only)")
    return _probe_bwrap(str(BWRAP_PATH), os.geteuid() == 0)


def _require_sandbox() -> None:
    status = sandbox_status()
    if not status.available:
        raise SandboxUnavailable(
            f"Refusing to run a script without a sandbox: {status.description} "
            "(for development only, BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX=1 runs scripts unsandboxed: UNSAFE)."
        )


# --------------------------------------------------------------------------- binds


@functools.lru_cache(maxsize=64)
def _interpreter_dirs(python: str) -> tuple[str, ...]:
    """sys.prefix and sys.base_prefix as the interpreter itself sees them (asked once per path)."""
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix]))"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"Cannot start the interpreter {python} ({exc}); give the path of a working python.") from exc
    if out.returncode != 0:
        raise ValueError(f"The interpreter {python} failed to start: {out.stderr.strip()[-500:]}")
    return tuple(json.loads(out.stdout))


def _covered(path: Path, by: list[Path]) -> bool:
    return any(path == parent or parent in path.parents for parent in by)


def interpreter_binds(python: Path) -> list[Path]:
    """Read-only directories the interpreter needs inside the sandbox: its sys.prefix and sys.base_prefix
    and the directory of the real binary, symlinks resolved, without what /usr already provides.
    A venv (``python -m venv``, pyvenv.cfg home=...) bound at its own host path keeps working."""
    python = Path(python)
    if not python.exists():
        raise ValueError(f"No interpreter at {python}: give the path of a python executable (e.g. a venv's python).")
    return list(_interpreter_binds(str(python)))


@functools.lru_cache(maxsize=64)
def _interpreter_binds(python: str) -> tuple[Path, ...]:
    """Worked out once per interpreter path (as ``_interpreter_dirs`` asks the interpreter once): a runner
    asks for every run, and the symlink resolution is CPU the sandboxed scripts beside it could use."""
    dirs = [Path(p).resolve() for p in _interpreter_dirs(python)]
    dirs.append(Path(python).resolve().parent)
    return tuple(_outermost(dirs))


def _outermost(paths: list[Path]) -> list[Path]:
    """Each directory once, without those inside another bind or inside /usr (bound already)."""
    result: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if not _covered(path, [Path("/usr"), *result]):
            result.append(path)
    return result


def _check_binds(paths: list[Path]) -> list[Path]:
    """Refuse binds that would show the app's code, settings or database to the script."""
    resolved = [Path(p).resolve() for p in paths]
    for path in resolved:
        if path == APP_ROOT or path in APP_ROOT.parents:
            raise ValueError(
                f"Refusing to bind {path} into the sandbox: it contains the application ({APP_ROOT}). "
                "Bind only an environment's own directory (e.g. its venv)."
            )
    return resolved


def _usr_symlinks() -> list[str]:
    return ["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin"]


def _ro_bind_args(paths: list[Path]) -> list[str]:
    """--ro-bind each path at its own location, first creating its ancestors as 0755 directories:
    bubblewrap would otherwise create them 0700 (root's), and the dropped uid could not reach the bind."""
    args: list[str] = []
    made: set[str] = {"/", "/usr"}
    for path in paths:
        for ancestor in reversed(path.parents):
            if str(ancestor) not in made:
                args += ["--perms", "0755", "--dir", str(ancestor)]
                made.add(str(ancestor))
        args += ["--ro-bind", str(path), str(path)]
        made.add(str(path))
    return args


def _etc_binds() -> list[str]:
    args: list[str] = []
    for name in ETC_BINDS:
        if os.path.lexists(f"/etc/{name}") and os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def _gpu_args() -> list[str]:
    args: list[str] = []
    for dev in sorted(glob.glob("/dev/nvidia*")):
        args += ["--dev-bind", dev, dev]
    return args


# --------------------------------------------------------------------------- environment and limits


def _sandbox_uid() -> int:
    """A uid per worker process: RLIMIT_NPROC counts per uid, so concurrent sandboxes do not share it."""
    return 100000 + os.getpid() % 50000


def _script_env(*, home: str, helper_dir: str, capture_dir: str, device: str, extra_env: dict[str, str] | None):
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "USER": "bugsift",  # getpass.getuser() (torch's caches) fails for a uid without a passwd entry
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": helper_dir,
        "BUGSIFT_DEVICE": "cuda" if device == "gpu" else "cpu",
        "BUGSIFT_CAPTURE_DIR": capture_dir,
    }
    if device == "gpu" and "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    env.update(extra_env or {})
    return env


PRLIMIT = "/usr/bin/prlimit"  # util-linux, on every Debian system


def _rlimits(limits: Limits) -> list[tuple[int, str, int, int]]:
    """(resource, prlimit option, soft, hard): applied before bwrap/python start; everything inside inherits."""
    cpu = limits.effective_cpu_seconds()
    memory = limits.memory_mb * 1024 * 1024
    file_size = limits.file_size_mb * 1024 * 1024
    return [
        (resource.RLIMIT_CORE, "--core", 0, 0),
        (resource.RLIMIT_CPU, "--cpu", cpu, cpu + 1),  # SIGXCPU, then SIGKILL a second later
        (resource.RLIMIT_DATA, "--data", memory, memory),
        (resource.RLIMIT_FSIZE, "--fsize", file_size, file_size),
        (resource.RLIMIT_NPROC, "--nproc", limits.processes, limits.processes),
    ]


def _rlimit_preexec(limits: Limits):
    """The same rlimits set in the forked child (only where prlimit(1) is missing: it forces a slow fork)."""
    values = _rlimits(limits)

    def apply() -> None:
        for which, _, soft, hard in values:
            resource.setrlimit(which, (soft, hard))

    return apply


def _check_args(device: str, limits: Limits, script: str) -> None:
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', not {device!r}.")
    if limits.wall_seconds <= 0 or limits.memory_mb <= 0 or limits.processes <= 0 or limits.output_bytes <= 0:
        raise ValueError(f"Limits must be positive (wall_seconds, memory_mb, processes, output_bytes): {limits}.")
    if not isinstance(script, str) or not script.strip():
        raise ValueError("The script is empty: give the Python source to run.")


def _prepare_scratch(scratch: Path, script: str, owner: int | None) -> Path:
    """scratch/main.py and scratch/.bugsift/captures, owned by the sandbox uid (the only writable place)."""
    scratch.mkdir(parents=True, exist_ok=True)
    captures = scratch / ".bugsift" / "captures"
    captures.mkdir(parents=True, exist_ok=True)
    (scratch / "main.py").write_text(script, encoding="utf-8")
    if owner is not None:
        for path in (scratch, scratch / ".bugsift", captures, scratch / "main.py"):
            os.chown(path, owner, owner)
    return captures


def _bwrap_command(
    *,
    python: Path,
    scratch: Path,
    device: str,
    ro_binds: list[Path],
    env: dict[str, str],
    uid: int | None,
    status_fd: int,
) -> list[str]:
    cmd = [str(BWRAP_PATH), "--json-status-fd", str(status_fd), "--ro-bind", "/usr", "/usr", *_usr_symlinks()]
    cmd += _etc_binds()
    cmd += _ro_bind_args(_outermost([*interpreter_binds(python), *ro_binds]))
    cmd += ["--perms", "0755", "--dir", "/opt", "--ro-bind", str(CAPTURE_HELPER_DIR), SANDBOX_HELPER_DIR]
    cmd += ["--proc", "/proc", "--dev", "/dev", *(_gpu_args() if device == "gpu" else [])]
    cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    cmd += ["--die-with-parent", "--new-session", "--bind", str(scratch), SANDBOX_SCRATCH, "--chdir", SANDBOX_SCRATCH]
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    if uid is None:  # not root: an unprivileged user namespace does the dropping
        cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), str(python), "main.py"]
        return cmd
    cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", str(SETPRIV_PATH), f"--reuid={uid}"]
    cmd += [f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    cmd += [str(python), "main.py"]
    return cmd


# --------------------------------------------------------------------------- running


class _Tail:
    """The last `cap` bytes of a stream and the count of all bytes: memory stays bounded at ~2*cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buf += chunk
        if len(self.buf) > 2 * self.cap:
            del self.buf[: len(self.buf) - self.cap]

    def text(self) -> str:
        return bytes(self.buf[-self.cap :]).decode("utf-8", errors="replace")

    @property
    def dropped(self) -> int:
        return self.total - min(len(self.buf), self.cap)


def _enlarge_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: the default size only costs more wake-ups


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(
    proc: subprocess.Popen, limits: Limits, on_timeout=None
) -> tuple[_Tail, _Tail, int, resource.struct_rusage | None, bool]:
    """Read stdout and stderr until the process exits, killing at the wall limit: first `on_timeout`
    (which may end the script more gently, keeping its rusage), then the whole group after a short grace.
    Returns the tails, the raw wait status, the rusage and whether the wall clock killed it."""
    out, err = _Tail(limits.output_bytes), _Tail(limits.output_bytes)
    tails = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    open_fds = set(tails)
    sel = selectors.DefaultSelector()
    for fd in tails:
        os.set_blocking(fd, False)
        _enlarge_pipe(fd)
        sel.register(fd, selectors.EVENT_READ)
    pidfd = os.pidfd_open(proc.pid)
    sel.register(pidfd, selectors.EVENT_READ)
    deadline = time.monotonic() + limits.wall_seconds
    timed_out = False
    status, usage = 0, None
    drain_until = None
    try:
        while True:
            now = time.monotonic()
            if usage is None and now >= deadline:
                if not timed_out and on_timeout is not None and on_timeout():
                    deadline = now + _DRAIN_SECONDS
                else:
                    _kill_group(proc.pid)
                    deadline = math.inf
                timed_out = True
            if usage is not None and (not open_fds or now >= drain_until):
                break
            stop = drain_until if usage is not None else deadline
            for key, _ in sel.select(timeout=max(0.0, min(stop - now, 1.0))):
                if key.fd == pidfd:
                    _, status, usage = os.wait4(proc.pid, 0)
                    proc.returncode = _popen_returncode(status)
                    sel.unregister(pidfd)
                    drain_until = time.monotonic() + _DRAIN_SECONDS
                    continue
                try:
                    chunk = os.read(key.fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    tails[key.fd].add(chunk)
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    finally:
        sel.close()
        os.close(pidfd)
        proc.stdout.close()
        proc.stderr.close()
        if usage is None:  # an exception above: never leave the sandbox behind
            _kill_group(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = _popen_returncode(status)
    _kill_group(proc.pid)  # anything that escaped into our process group (unsafe mode)
    return out, err, status, usage, timed_out


def _popen_returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _exit_and_signal(status: int, sandboxed: bool, notes: list[str]) -> tuple[int | None, int | None]:
    """(exit_code, signal). bubblewrap reports a child killed by signal N as exit status 128+N, so in the
    sandbox 129..192 is read back as that signal (a script calling sys.exit(137) is read as SIGKILL too)."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    if sandboxed and 128 < code <= 128 + 64:
        notes.append(f"bubblewrap exit status {code} read as signal {code - 128} ({_signal_name(code - 128)})")
        return None, code - 128
    return code, None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _classify(*, timed_out: bool, sig: int | None, stderr: str, cpu_used: float, peak_kb: int, limits: Limits) -> str:
    """Name the limit that ended (or visibly hurt) the run; best effort from signals and the stderr tail."""
    if timed_out:
        return "wall_time"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= limits.effective_cpu_seconds() - 0.05):
        return "cpu_time"
    if sig == signal.SIGXFSZ or any(m in stderr for m in _FILE_SIZE_MARKERS):
        return "file_size"
    if any(m in stderr for m in _MEMORY_MARKERS):
        return "memory"
    if sig == signal.SIGKILL and peak_kb >= 0.9 * limits.memory_mb * 1024:
        return "memory"
    if any(m in stderr for m in _PROCESS_MARKERS):
        return "processes"
    return ""


def _spawn(
    cmd: list[str], *, limits: Limits, cwd: str | None, env: dict[str, str] | None, drop_to: int | None, pass_fds=()
):
    """Start ``cmd`` under the limits. With prlimit(1) in front Python can use vfork: a large worker
    process starts its sandbox in about 1 ms instead of the 7 ms a full fork for preexec_fn costs."""
    kwargs: dict = {"pass_fds": tuple(pass_fds)}
    if drop_to is not None:
        kwargs.update(user=drop_to, group=drop_to, extra_groups=[])
    if os.path.exists(PRLIMIT):
        cmd = [PRLIMIT, *(f"{option}={soft}:{hard}" for _, option, soft, hard in _rlimits(limits)), "--", *cmd]
    else:
        kwargs["preexec_fn"] = _rlimit_preexec(limits)
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        close_fds=True,
        start_new_session=True,
        **kwargs,
    )


_spawn_lock = threading.Lock()  # preexec_fn is not safe with concurrent forks from several threads
_PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def _become_subreaper() -> bool:
    """Make this process the reaper of orphaned descendants, once.

    bubblewrap's outer process exits as soon as the script's exit code is known, before its pid-1 helper
    (which reaped the script) is waited for, so waiting for bwrap alone reports bwrap's own memory and CPU,
    not the script's. As a subreaper this process inherits that pid-1 helper and waits for it itself:
    its rusage includes the script and every descendant it reaped. (Side effect, documented for runners:
    orphans of other children of this process also become ours to reap.)"""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class _BwrapStatus:
    """bubblewrap's --json-status-fd lines (child-pid, exit-code), read as they come and at the end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""
        os.set_blocking(fd, False)

    def _read(self) -> None:
        try:
            while chunk := os.read(self.fd, 65536):
                self.data += chunk
        except BlockingIOError:
            pass

    def fields(self) -> dict:
        self._read()
        merged: dict = {}
        for line in self.data.decode(errors="replace").splitlines():
            try:
                merged.update(json.loads(line))
            except ValueError:
                continue
        return merged

    def close(self) -> dict:
        os.set_blocking(self.fd, True)
        try:
            return self.fields()
        finally:
            os.close(self.fd)

    def kill_script(self) -> bool:
        """SIGKILL the processes under bubblewrap's pid-1 helper (the script) but not the helper itself: it
        then reaps the script, so its rusage (peak memory, CPU) survives a wall-time kill, and exits."""
        child = self.fields().get("child-pid")
        if not isinstance(child, int):
            return False
        try:
            with open(f"/proc/{child}/task/{child}/children") as handle:
                pids = [int(p) for p in handle.read().split()]
        except (OSError, ValueError):
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return bool(pids)


def _reap_inner(status: dict, notes: list[str]) -> resource.struct_rusage | None:
    """Wait for bubblewrap's pid-1 helper (reparented to us) and return its rusage, which covers the script."""
    child = status.get("child-pid")
    if not isinstance(child, int):
        return None
    try:
        _, _, usage = os.wait4(child, 0)
    except ChildProcessError:
        notes.append("peak memory and CPU time are bubblewrap's own: its pid-1 helper was not ours to wait for")
        return None
    return usage


def _run_bwrap(
    *,
    python: Path,
    scratch: Path,
    device: str,
    binds: list[Path],
    env: dict[str, str],
    uid: int | None,
    limits: Limits,
    notes: list[str],
):
    """Start bwrap with a status pipe, pump its output, then reap its pid-1 helper for the script's rusage."""
    _become_subreaper()
    status_r, status_w = os.pipe()
    try:
        cmd = _bwrap_command(
            python=python, scratch=scratch, device=device, ro_binds=binds, env=env, uid=uid, status_fd=status_w
        )
        with _spawn_lock:
            proc = _spawn(cmd, limits=limits, cwd="/", env={}, drop_to=None, pass_fds=[status_w])
    except BaseException:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    bwrap_status = _BwrapStatus(status_r)
    out, err, status, usage, timed_out = _pump(proc, limits, on_timeout=bwrap_status.kill_script)
    usage = _reap_inner(bwrap_status.close(), notes) or usage
    return out, err, status, usage, timed_out


def run_script(
    *,
    script: str,
    python: Path,
    scratch: Path,
    limits: Limits = Limits(),
    device: str = "cpu",
    ro_binds: list[Path] | None = None,
    extra_env: dict[str, str] | None = None,
    unsafe_no_sandbox: bool = False,
) -> SandboxResult:
    """Write `script` to scratch/main.py and run it as `python main.py` in scratch under the sandbox.

    Raises SandboxUnavailable (with INSTALL_HINT) when bubblewrap is missing or unusable and
    `unsafe_no_sandbox` is False. The scratch directory is left for the caller, who reads the captures
    (SandboxResult.captures_dir) and deletes it.
    """
    _check_args(device, limits, script)
    python = Path(os.path.abspath(python))  # absolute but not resolved: a venv's python must keep its own path
    checked_binds = _check_binds(ro_binds or [])
    if not unsafe_no_sandbox:
        _require_sandbox()
    scratch = Path(scratch).resolve()
    as_root = os.geteuid() == 0
    uid = _sandbox_uid() if as_root and not unsafe_no_sandbox else None
    captures = _prepare_scratch(scratch, script, uid)
    notes: list[str] = []
    started = time.monotonic()
    if unsafe_no_sandbox:
        notes.append("UNSAFE: no sandbox")
        env = _script_env(
            home=str(scratch),
            helper_dir=str(CAPTURE_HELPER_DIR),
            capture_dir=str(captures),
            device=device,
            extra_env=extra_env,
        )
        with _spawn_lock:
            proc = _spawn([str(python), "main.py"], limits=limits, cwd=str(scratch), env=env, drop_to=None)
        out, err, status, usage, timed_out = _pump(proc, limits)
    else:
        env = _script_env(
            home=SANDBOX_SCRATCH,
            helper_dir=SANDBOX_HELPER_DIR,
            capture_dir=f"{SANDBOX_SCRATCH}/.bugsift/captures",
            device=device,
            extra_env=extra_env,
        )
        out, err, status, usage, timed_out = _run_bwrap(
            python=python,
            scratch=scratch,
            device=device,
            binds=checked_binds,
            env=env,
            uid=uid,
            limits=limits,
            notes=notes,
        )
    duration = time.monotonic() - started
    exit_code, sig = _exit_and_signal(status, not unsafe_no_sandbox, notes)
    stderr_tail = err.text()
    cpu_used = usage.ru_utime + usage.ru_stime if usage else 0.0
    peak_kb = int(usage.ru_maxrss) if usage else 0
    result = SandboxResult(
        exit_code=exit_code,
        signal=sig,
        duration_s=duration,
        peak_memory_kb=peak_kb,
        stdout_tail=out.text(),
        stderr_tail=stderr_tail,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        captures_dir=captures,
        notes=notes,
        cpu_time_s=cpu_used,
    )
    result.limit_hit = _classify(
        timed_out=timed_out,
        sig=sig,
        stderr=stderr_tail,
        cpu_used=cpu_used,
        peak_kb=peak_kb,
        limits=limits,
    )
    _add_notes(result, out, err, limits)
    if not unsafe_no_sandbox and exit_code == 1 and out.total == 0 and stderr_tail.startswith("bwrap: "):
        result.setup_error = stderr_tail.strip()
    return result


def _add_notes(result: SandboxResult, out: _Tail, err: _Tail, limits: Limits) -> None:
    for name, tail in (("stdout", out), ("stderr", err)):
        if tail.dropped:
            result.notes.append(f"{name} capped: {tail.dropped:,} bytes dropped (last {limits.output_bytes:,} kept)")
    if result.limit_hit == "wall_time":
        result.notes.append(f"killed after the wall time limit of {limits.wall_seconds:g} s")
    elif result.limit_hit:
        result.notes.append(f"limit hit: {result.limit_hit}")


__all__ = [
    "INSTALL_HINT",
    "Limits",
    "SandboxResult",
    "SandboxStatus",
    "SandboxUnavailable",
    "interpreter_binds",
    "run_script",
    "sandbox_status",
]
