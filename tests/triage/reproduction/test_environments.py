"""Requirements parsing and real virtualenv builds (pip, offline, from locally built wheels)."""

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fakes.tinypkg import build_wheels
from triage.reproduction import environments
from triage.reproduction.environments import (
    RequirementsError,
    environment_ensure,
    environment_key,
    parse_requirements,
    pin,
    python_version,
)

PY = sys.executable


def run_python(python: Path, code: str) -> str:
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def wheels(tmp_path):
    return build_wheels(tmp_path / "wheels")


def ensure(root, reqs, wheels, **kw):
    return environment_ensure(reqs, root=root, base_python=PY, wheel_dir=str(wheels), offline=True, **kw)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("torch==2.13.0 numpy<2", ["numpy<2", "torch==2.13.0"]),
        ("numpy >= 1.0", ["numpy>=1.0"]),
        ("numpy >= 1.0 , < 2   Torch", ["numpy<2,>=1.0", "torch"]),
        ("# pins\n\nScikit_Learn ~= 1.4  # trailing comment\nnumpy\n", ["numpy", "scikit-learn~=1.4"]),
        ("requests [Socks,security] >=2", ["requests[security,socks]>=2"]),
        (
            'numpy; python_version < "3.12" and os_name == "posix"',
            ['numpy; python_version < "3.12" and os_name == "posix"'],
        ),
        ("", []),
    ],
)
def test_parse_requirements_normalises_and_sorts(text, expected):
    assert parse_requirements(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("-e .", ["installer option", "-e"]),
        ("--index-url https://evil.example/simple numpy", ["installer option"]),
        ("git+https://github.com/x/y", ["URL or a path"]),
        ("./local/pkg.whl", ["URL or a path"]),
        ("/tmp/x-1.0.tar.gz", ["URL or a path"]),
        ("pkg @ https://evil.example/pkg.whl", ["URL"]),
        ("numpy numpy>1", ["named twice", "numpy"]),
        ("numpy 1.0", ["numpy==1.0"]),
        ("==1.0", ["not a valid requirement", "==1.0"]),
        ("numpy>=", ["not a valid requirement"]),
    ],
)
def test_parse_requirements_refuses_with_a_clear_message(text, words):
    with pytest.raises(RequirementsError) as info:
        parse_requirements(text)
    message = str(info.value)
    for word in words:
        assert word in message
    assert "line 1" in message or "named twice" in message


def test_refusal_names_the_line():
    with pytest.raises(RequirementsError, match="line 3"):
        parse_requirements("numpy\n# ok\n-r other.txt\n")


def test_pin_replaces_keeps_extras_and_marker_or_adds():
    reqs = parse_requirements('numpy<2 torch[opt]>=1; os_name == "posix"')
    assert pin(reqs, "Torch", "2.13.0") == ["numpy<2", 'torch[opt]==2.13.0; os_name == "posix"']
    assert pin(reqs, "bugsift_tinypkg", "1.2") == ["bugsift-tinypkg==1.2", "numpy<2", reqs[1]]
    with pytest.raises(RequirementsError, match="not a version"):
        pin(reqs, "torch", "not a version!")


def test_environment_key_depends_on_everything_that_changes_the_install():
    base = dict(python="3.11", system_site_packages=False, wheel_dir="", offline=False)
    key = environment_key(["a==1", "b"], **base)
    assert len(key) == 64 and int(key, 16) >= 0
    assert environment_key(["b", "a==1"], **base) == key
    assert environment_key(["a==2", "b"], **base) != key
    for change in ({"python": "3.12"}, {"system_site_packages": True}, {"wheel_dir": "/w"}, {"offline": True}):
        assert environment_key(["a==1", "b"], **{**base, **change}) != key


def test_python_version_asks_the_interpreter(tmp_path):
    assert python_version(PY) == f"{sys.version_info[0]}.{sys.version_info[1]}"
    with pytest.raises(RuntimeError, match="base Python"):
        python_version(str(tmp_path / "no-such-python"))


def test_installer_environment_has_no_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h/db")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    env = environments._installer_env()
    assert not {"DATABASE_URL", "DJANGO_SECRET_KEY", "GITHUB_TOKEN"} & set(env)
    assert env["PIP_FIND_LINKS"] == "/opt/wheels" and "PATH" in env


# --------------------------------------------------------------------------- real builds


def test_tinypkg_wheels_are_valid_and_cached(tmp_path):
    dest = build_wheels(tmp_path / "w", versions=("1.0", "2.0"), bad=("2.0",))
    names = sorted(p.name for p in dest.glob("*.whl"))
    assert names == ["bugsift_tinypkg-1.0-py3-none-any.whl", "bugsift_tinypkg-2.0-py3-none-any.whl"]
    before = (dest / names[0]).stat().st_mtime_ns
    build_wheels(tmp_path / "w", versions=("1.0", "2.0"), bad=("2.0",))
    assert (dest / names[0]).stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="not in versions"):
        build_wheels(tmp_path / "w2", versions=("1.0",), bad=("3.0",))


@pytest.mark.parametrize("version, total", [("1.1", 3), ("1.3", 4)])
def test_builds_offline_from_the_wheel_folder(tmp_path, wheels, version, total):
    result = ensure(tmp_path, [f"bugsift-tinypkg=={version}"], wheels)
    assert result.ok, result.log
    assert not result.cached
    assert result.env_dir == tmp_path / "envs" / result.key
    assert (tmp_path / "envs" / f"{result.key}.ok").exists()
    assert (
        run_python(result.python, "import tinypkg; print(tinypkg.__version__, tinypkg.add(1, 2))")
        == f"{version} {total}"
    )
    assert "--only-binary=:all:" in result.log and "--no-index" in result.log


def test_builds_with_uv_when_asked(tmp_path, wheels):
    if environments._uv_binary() is None:
        pytest.skip("uv is not installed (it is in requirements-dev.txt: make venv installs it)")
    result = ensure(tmp_path, ["bugsift-tinypkg==1.3"], wheels, installer="uv")
    assert result.ok, result.log
    assert "uv pip install" in result.log.replace(environments._uv_binary(), "uv")
    assert run_python(result.python, "import tinypkg; print(tinypkg.add(1, 2))") == "4"


def test_system_site_packages_builds_on_the_interpreters_preinstalled_packages(tmp_path, wheels):
    """What a GPU host does with a CUDA build of torch installed once: here, any package the base
    interpreter has in its own site-packages (pip, on most systems)."""
    base = getattr(sys, "_base_executable", sys.executable)
    purelib = Path(run_python(Path(base), "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    names = sorted(p.name for p in purelib.glob("*") if (p / "__init__.py").exists() and p.name.isidentifier())
    if not names:
        pytest.skip(f"the base interpreter has no package in {purelib} to build on")
    check = f"import importlib.util; print(importlib.util.find_spec({names[0]!r}) is not None)"
    isolated = ensure(tmp_path, [], wheels)
    on_top = ensure(tmp_path, [], wheels, system_site_packages=True)
    assert isolated.ok and on_top.ok and isolated.key != on_top.key
    assert run_python(isolated.python, check) == "False"
    assert run_python(on_top.python, check) == "True"


def test_second_call_is_cached_without_rebuilding(tmp_path, wheels):
    first = ensure(tmp_path, ["bugsift-tinypkg==1.0"], wheels)
    assert first.ok, first.log
    marker = first.env_dir / "left-by-first-build"
    marker.write_text("x")
    second = ensure(tmp_path, ["bugsift-tinypkg == 1.0"], wheels)
    assert second.ok and second.cached
    assert second.key == first.key and marker.exists()


def test_empty_requirements_still_make_a_cached_venv(tmp_path, wheels):
    result = ensure(tmp_path, [], wheels)
    assert result.ok, result.log
    assert run_python(result.python, "import sys; print(sys.prefix)") == str(result.env_dir)
    assert ensure(tmp_path, [], wheels).cached


def test_failed_build_is_a_result_with_the_installer_log_and_is_cached(tmp_path, wheels):
    result = ensure(tmp_path, ["bugsift-tinypkg==9.9"], wheels)
    assert not result.ok and not result.cached
    assert "No matching distribution found for bugsift-tinypkg==9.9" in result.log
    assert (tmp_path / "envs" / f"{result.key}.failed").read_text() == result.log
    assert not result.env_dir.exists()
    again = ensure(tmp_path, ["bugsift-tinypkg==9.9"], wheels)
    assert not again.ok and again.cached and "No matching distribution" in again.log
    # The wheel appears later: a retry that asks for it rebuilds and succeeds.
    build_wheels(wheels, versions=("1.0", "9.9"), bad=())
    assert not ensure(tmp_path, ["bugsift-tinypkg==9.9"], wheels).ok
    retried = ensure(tmp_path, ["bugsift-tinypkg==9.9"], wheels, rebuild_failed=True)
    assert retried.ok and not retried.cached, retried.log
    assert not (tmp_path / "envs" / f"{result.key}.failed").exists()
    assert run_python(retried.python, "import tinypkg; print(tinypkg.add(2, 2))") == "4"


def test_a_killed_half_build_is_removed_and_rebuilt(tmp_path, wheels):
    key = environment_key(
        ["bugsift-tinypkg==1.4"],
        python=python_version(PY),
        system_site_packages=False,
        wheel_dir=str(wheels),
        offline=True,
    )
    half = tmp_path / "envs" / key
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "python").write_text("#!/bin/sh\nexit 99\n")
    (half / "junk").write_text("from the killed build")
    result = ensure(tmp_path, ["bugsift-tinypkg==1.4"], wheels)
    assert result.ok and not result.cached and result.key == key
    assert not (half / "junk").exists()
    assert run_python(result.python, "import tinypkg; print(tinypkg.__version__)") == "1.4"


def test_missing_wheel_folder_fails_with_a_message(tmp_path):
    result = environment_ensure(
        ["bugsift-tinypkg==1.0"], root=tmp_path, base_python=PY, wheel_dir=str(tmp_path / "nope"), offline=True
    )
    assert not result.ok and "does not exist" in result.log


def test_missing_base_python_fails_with_a_message(tmp_path):
    result = environment_ensure([], root=tmp_path, base_python=str(tmp_path / "python9"))
    assert not result.ok and "base Python" in result.log


def test_bad_requirements_raise_before_building(tmp_path):
    with pytest.raises(RequirementsError):
        environment_ensure(["-e ."], root=tmp_path, base_python=PY)
    assert not (tmp_path / "envs").exists() or not any((tmp_path / "envs").iterdir())


def test_build_timeout_kills_the_installer(tmp_path):
    """A base 'python' that answers the version question but hangs on venv creation."""
    pid_file = tmp_path / "hang.pid"
    fake = tmp_path / "slowpython"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then exec {PY} "$@"; fi\necho $$ > {pid_file}\nexec sleep 300\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = environment_ensure([], root=tmp_path / "root", base_python=str(fake), timeout=2)
    assert not result.ok and "timed out" in result.log
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_concurrent_builds_of_one_environment_build_once(tmp_path, wheels):
    results = []

    def build():
        results.append(ensure(tmp_path, ["bugsift-tinypkg==1.5"], wheels))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results)
    assert sorted(r.cached for r in results) == [False, True, True]


@pytest.fixture(scope="session")
def torch_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch-env")
    return environment_ensure(
        ["torch==2.13.0"], root=root, base_python=PY, wheel_dir="/opt/wheels", offline=False, timeout=1500
    )


def test_builds_a_real_torch_cpu_environment(torch_env):
    assert torch_env.ok, torch_env.log
    out = run_python(torch_env.python, "import torch; print(torch.__version__); print(torch.arange(4.).sum().item())")
    version, total = out.splitlines()[-2:]
    assert version.startswith("2.13.0") and total == "6.0"
