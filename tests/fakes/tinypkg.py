"""Local wheels of a tiny package whose bug comes and goes between versions, built without network.

    build_wheels(dest, versions=..., bad=...) -> Path   (the folder holding the .whl files)

Bisection and differential tests need a real package installed by a real installer from a real
wheel folder, offline. A wheel is a zip with METADATA, WHEEL and a RECORD of sha256 hashes, so we
write it by hand rather than calling a build backend (which would need setuptools from the index).

`bugsift-tinypkg` imports as `tinypkg`; `tinypkg.add(a, b)` is `a + b` in good versions and
`a + b + 1` in the bad ones; `tinypkg.__version__` is the version.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

DIST_NAME = "bugsift-tinypkg"
WHEEL_STEM = "bugsift_tinypkg"
IMPORT_NAME = "tinypkg"
DEFAULT_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
DEFAULT_BAD = ("1.2", "1.3", "1.4")
# A fixed timestamp so the same arguments always give byte-identical wheels.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _module_source(version: str, bad: bool) -> str:
    """The package's only module: the bug is an off-by-one in add()."""
    body = "a + b + 1" if bad else "a + b"
    return (
        f'"""A tiny package for Bugsift tests (version {version}, {"bad" if bad else "good"})."""\n\n'
        f'__version__ = "{version}"\n\n\n'
        f"def add(a, b):\n"
        f"    return {body}\n"
    )


def _record_hash(data: bytes) -> str:
    """RECORD's hash format: urlsafe base64 of the sha256 digest, without padding."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _wheel_files(version: str, bad: bool) -> dict[str, bytes]:
    """Every file of the wheel except RECORD, by archive path."""
    dist_info = f"{WHEEL_STEM}-{version}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {DIST_NAME}\n"
        f"Version: {version}\n"
        "Summary: A tiny package whose add() is off by one in some versions (Bugsift tests).\n"
        "Requires-Python: >=3.8\n"
    )
    wheel = "Wheel-Version: 1.0\nGenerator: bugsift-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    return {
        f"{IMPORT_NAME}/__init__.py": _module_source(version, bad).encode(),
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": wheel.encode(),
        f"{dist_info}/top_level.txt": f"{IMPORT_NAME}\n".encode(),
    }


def write_wheel(dest: Path, version: str, bad: bool) -> Path:
    """Write one wheel into dest and return its path."""
    files = _wheel_files(version, bad)
    record_name = f"{WHEEL_STEM}-{version}.dist-info/RECORD"
    record_lines = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()]
    record_lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(record_lines) + "\n").encode()
    path = dest / f"{WHEEL_STEM}-{version}-py3-none-any.whl"
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    tmp.replace(path)
    return path


def build_wheels(dest: Path, versions=DEFAULT_VERSIONS, bad=DEFAULT_BAD) -> Path:
    """Build wheels of every version into dest (created if needed) and return dest.

    Cached by arguments: a stamp file in dest records what was built, so a second call with the
    same versions and bad set does nothing. A call with other arguments rewrites the wheels.
    """
    versions, bad = tuple(str(v) for v in versions), tuple(str(v) for v in bad)
    unknown = sorted(set(bad) - set(versions))
    if unknown:
        raise ValueError(f"bad versions {unknown} are not in versions {list(versions)}; list them in both.")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dest / ".tinypkg.json"
    wanted = json.dumps({"versions": versions, "bad": sorted(bad)})
    if (
        stamp.exists()
        and stamp.read_text() == wanted
        and all((dest / f"{WHEEL_STEM}-{v}-py3-none-any.whl").exists() for v in versions)
    ):
        return dest
    for old in dest.glob(f"{WHEEL_STEM}-*.whl"):
        old.unlink()
    for version in versions:
        write_wheel(dest, version, version in bad)
    stamp.write_text(wanted)
    return dest
