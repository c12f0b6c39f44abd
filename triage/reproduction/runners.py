"""Reproduction runners: Celery workers consuming ``repro.cpu`` or ``repro.gpu``.

Connected to Celery's worker signals in ``config/celery.py``:

* at start (``celeryd_init``) a worker asked to consume ``repro.gpu`` checks for a GPU and
  refuses to start without one;
* when ready, a worker consuming a ``repro.*`` queue registers as a Runner (device, CUDA
  version, GPUs, preinstalled frameworks, sandbox) and sends heartbeats from a thread;
* at shutdown it is marked stopped.

Nothing here imports Django models at import time: the module is imported by the Celery app.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import subprocess
import sys
import threading

log = logging.getLogger(__name__)

GPU_QUEUE = "repro.gpu"
CPU_QUEUE = "repro.cpu"
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "jaxlib", "mxnet", "numpy")
_heartbeat_stop = threading.Event()
_heartbeat_thread: threading.Thread | None = None


class NoGpuError(SystemExit):
    """A worker was asked to consume repro.gpu on a host without a GPU."""


def _queues_of(option) -> list[str]:
    if not option:
        return []
    if isinstance(option, str):
        return [q.strip() for q in option.split(",") if q.strip()]
    return [str(q).strip() for q in option if str(q).strip()]


def gpu_probe(command: str) -> tuple[bool, list[str], str]:
    """(found, GPU lines, CUDA version or message) from ``nvidia-smi -L``-like output."""
    try:
        argv = shlex.split(command or "")
    except ValueError as exc:
        return False, [], f"the GPU check command `{command}` cannot be parsed ({exc})"
    if not argv:
        return False, [], "the GPU check command is empty (set BUGSIFT_GPU_CHECK_COMMAND, e.g. to `nvidia-smi -L`)"
    try:
        listed = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, [], f"`{command}` could not run ({exc})"
    gpus = [line.strip() for line in listed.stdout.splitlines() if line.strip().startswith("GPU")]
    if listed.returncode != 0 or not gpus:
        detail = (listed.stderr or listed.stdout).strip().splitlines()
        return False, [], f"`{command}` found no GPU ({detail[-1] if detail else f'exit {listed.returncode}'})"
    cuda = ""
    try:
        full = subprocess.run([argv[0]], capture_output=True, text=True, timeout=20).stdout
        for part in full.split("CUDA Version:")[1:2]:
            cuda = part.split()[0].strip("|")
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    return True, gpus, cuda


def check_gpu_queue(queues: list[str], *, command: str) -> tuple[list[str], str]:
    """Refuse (SystemExit with a message) to consume repro.gpu without a GPU; return (gpus, cuda)."""
    if GPU_QUEUE not in queues:
        return [], ""
    found, gpus, cuda_or_message = gpu_probe(command)
    if not found:
        raise NoGpuError(
            f"Bugsift runner refuses to start: it was asked to consume {GPU_QUEUE}, but {cuda_or_message}. "
            f"Start GPU runners only on hosts with a GPU and its driver, or consume {CPU_QUEUE} instead "
            "(BUGSIFT_GPU_CHECK_COMMAND sets how the GPU is found)."
        )
    return gpus, cuda_or_message


def installed_frameworks(python: str) -> dict[str, str]:
    """Versions of the DL frameworks importable by ``python`` (what environments can build on)."""
    code = (
        "import importlib.metadata as m, json\nout = {}\n"
        f"for name in {FRAMEWORKS!r}:\n"
        "    try:\n        out[name] = m.version(name)\n    except m.PackageNotFoundError:\n        pass\n"
        "print(json.dumps(out))"
    )
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
        return json.loads(done.stdout or "{}")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}


def runner_facts(*, name: str, queues: list[str], gpus: list[str], cuda: str):
    from django.conf import settings

    from triage.reproduction.sandbox import sandbox_status
    from triage.reproduction.services import RunnerFacts

    python = settings.BUGSIFT_REPRO_PYTHON
    try:
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:  # the runner still registers; the page shows why
        version = f"unusable: {exc}"[:32]
    return RunnerFacts(
        name=name,
        hostname=socket.gethostname(),
        device="gpu" if GPU_QUEUE in queues else "cpu",
        queues=queues,
        cuda_version=cuda,
        gpus=tuple(gpus),
        frameworks=installed_frameworks(python),
        python=version,
        sandbox=sandbox_status(unsafe_no_sandbox=settings.BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX).description,
        pid=os.getpid(),
    )


def _heartbeat_loop(name: str, facts, interval: float) -> None:
    from django.db import close_old_connections

    from triage.reproduction.services import runner_heartbeat, runner_register, runner_runs_recover

    while not _heartbeat_stop.wait(interval):
        try:
            close_old_connections()
            if not runner_heartbeat(name=name):
                runner_register(facts=facts)
            # Runs held by a worker process of ours that died (a killed prefork child) are queued again.
            runner_runs_recover(name=name)
        except Exception:  # noqa: BLE001 - a database blip must not kill the heartbeat thread
            log.warning("Runner %s could not send its heartbeat; trying again.", name, exc_info=True)


# --------------------------------------------------------------------------- Celery signal handlers

_state: dict = {}


def on_celeryd_init(sender=None, instance=None, conf=None, options=None, **kwargs):
    from django.conf import settings

    queues = _queues_of((options or {}).get("queues"))
    gpus, cuda = check_gpu_queue(queues, command=settings.BUGSIFT_GPU_CHECK_COMMAND)
    _state.update(queues=queues, gpus=gpus, cuda=cuda)


def on_worker_ready(sender=None, **kwargs):
    global _heartbeat_thread
    from django.conf import settings

    from triage.reproduction.services import runner_register

    queues = _state.get("queues") or []
    if not any(q.startswith("repro.") for q in queues):
        return
    name = getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}"
    facts = runner_facts(name=name, queues=queues, gpus=_state.get("gpus", []), cuda=_state.get("cuda", ""))
    runner_register(facts=facts)
    _state["name"] = name
    _heartbeat_stop.clear()
    interval = float(settings.BUGSIFT_RUNNER_HEARTBEAT_SECONDS)
    _heartbeat_thread = threading.Thread(
        target=_heartbeat_loop, args=(name, facts, interval), name="bugsift-runner-heartbeat", daemon=True
    )
    _heartbeat_thread.start()
    print(f"Bugsift runner {name} ready: {facts.device}, queues {', '.join(queues)}, {facts.sandbox}", file=sys.stderr)


def on_worker_shutdown(sender=None, **kwargs):
    from triage.reproduction.services import runner_stopped

    _heartbeat_stop.set()
    # A beat already under way would clear stopped_at after we set it: let it end first.
    if _heartbeat_thread is not None and _heartbeat_thread is not threading.current_thread():
        _heartbeat_thread.join(timeout=10)
    if _state.get("name"):
        try:
            runner_stopped(name=_state["name"])
        except Exception:  # noqa: BLE001 - shutting down; the sweep treats a silent runner as stopped
            log.warning("Runner %s could not record its shutdown.", _state["name"], exc_info=True)


def connect(app) -> None:
    from celery import signals

    signals.celeryd_init.connect(on_celeryd_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False)
