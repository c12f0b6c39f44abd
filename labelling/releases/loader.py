"""Read and check a release package before anything is written (``services.release_load``).

Checks, in order, each reported as a sentence naming the file and what to do:

1. it is a zip whose entries are plain relative paths (no ``..``, no absolute path, no
   duplicates) within the upload size limits, with ``datapackage.json`` and ``checksums.sha256``;
2. every file listed in ``checksums.sha256`` is there and has that SHA-256, and no file is
   there that is not listed (a changed or added file is refused);
3. the package validates with frictionless (descriptor, every table against its schema and
   the hash and size the descriptor records);
4. the codebook (``codebook.json``) agrees with the data: every dimension has its columns in
   ``data/items.csv``, every label's dimension is in the codebook, and every value (final or
   individual) is a valid code of its dimension (sorted codes for multiple choice).
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings

from config.errors import ApplicationError
from labelling.codebook_templates import template_problems
from labelling.releases import package as pk

csv.field_size_limit(1 << 30)


@dataclass
class CheckedPackage:
    directory: Path
    descriptor: dict
    codebook: dict
    meta: dict = field(default_factory=dict)  # the descriptor's "bugsift" section

    def rows(self, name: str) -> Iterator[dict]:
        path = self.directory / pk.DATA_PATHS.get(name, f"data/{name}.csv")
        with path.open(encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)


def refuse(problems: list[str]):
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    raise ApplicationError(
        f"The package was refused and nothing was written: {shown}",
        details=[{"message": p} for p in problems[:200]],
    )


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _digest(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_zip(source) -> tuple[zipfile.ZipFile, list[str]]:
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        refuse([f"it is not a zip file ({exc}). Upload the .zip a Bugsift release made."])
    infos = [i for i in zf.infolist() if not i.is_dir()]
    names = [i.filename for i in infos]
    problems = [f"'{n}' is not a plain relative path inside the package." for n in names if not _safe(n)]
    if len(set(names)) != len(names):
        problems.append("the zip holds the same file twice.")
    limit = getattr(settings, "BUGSIFT_MAX_UPLOAD_BYTES", 500 * 1024 * 1024) * 20
    if sum(i.file_size for i in infos) > limit:
        problems.append(f"it unpacks to more than {limit // (1024 * 1024)} MB.")
    for required in (pk.DESCRIPTOR, pk.CHECKSUMS):
        if required not in names:
            problems.append(f"'{required}' is missing: this is not a Bugsift release package.")
    if problems:
        refuse(problems)
    return zf, names


def _check_checksums(zf: zipfile.ZipFile, names: list[str]) -> list[str]:
    problems = []
    listed: dict[str, str] = {}
    for number, line in enumerate(zf.read(pk.CHECKSUMS).decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, path = line.partition("  ")
        if len(digest) != 64 or not path:
            problems.append(f"{pk.CHECKSUMS} line {number} is not '<sha256>  <path>'.")
            continue
        listed[path] = digest.lower()
    for path, expected in listed.items():
        if path not in names:
            problems.append(f"'{path}' is listed in {pk.CHECKSUMS} but missing from the zip.")
            continue
        actual = _digest(zf, path)
        if actual != expected:
            problems.append(
                f"'{path}' does not match its checksum (expected sha256 {expected}, found {actual}): the file was "
                "changed after the release. Use the package exactly as it was released."
            )
    for path in names:
        if path != pk.CHECKSUMS and path not in listed:
            problems.append(f"'{path}' is not listed in {pk.CHECKSUMS}: it was added after the release.")
    return problems


def _codebook_problems(package: CheckedPackage) -> list[str]:
    codebook = package.codebook
    problems = [f"codebook.json: {p}" for p in template_problems(codebook)]
    if problems:
        return problems
    dims = {d["code"]: d for d in codebook.get("dimensions", [])}
    codes = {}
    for code, d in dims.items():
        found = set()
        for c in d.get("categories") or []:
            found.add(c["code"])
            found |= {child["code"] for child in c.get("children") or []}
        codes[code] = found

    def bad_value(code: str, value: str) -> str | None:
        kind = dims[code].get("kind", "single")
        if value == "" or kind == "text":
            return None
        parts = value.split(";") if kind == "multi" else [value]
        unknown = [p for p in parts if p not in codes[code]]
        if unknown:
            return f"'{unknown[0]}' is not a category of '{code}' in codebook.json"
        if kind == "multi" and parts != sorted(set(parts)):
            return f"'{value}' is not sorted, de-duplicated codes"
        return None

    with (package.directory / pk.DATA_PATHS[pk.ITEMS]).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        index = {h: i for i, h in enumerate(header)}
        value_cols = {}
        for code in dims:
            value_header = code if code in index else f"final_{code}"
            missing = [h for h in (value_header, f"method_{code}") if h not in index]
            if missing:
                problems.append(f"data/items.csv has no column {missing[0]} for codebook dimension '{code}'.")
            else:
                value_cols[code] = index[value_header]
        for line, row in enumerate(reader, start=2):
            for code, i in value_cols.items():
                reason = bad_value(code, row[i]) if i < len(row) else None
                if reason:
                    problems.append(f"data/items.csv line {line}: final {code} {reason}.")
            if len(problems) > 50:
                return problems
    for line, row in enumerate(package.rows(pk.LABELS), start=2):
        code = row.get("dimension", "")
        if code not in dims:
            problems.append(f"data/labels.csv line {line}: dimension '{code}' is not in codebook.json.")
        else:
            reason = bad_value(code, row.get("value", ""))
            if reason:
                problems.append(f"data/labels.csv line {line}: {reason}.")
        if len(problems) > 50:
            break
    return problems


@contextmanager
def checked_package(source):
    """Open, check and unpack the package ``source`` (a path or binary file); yields a CheckedPackage.
    Any problem: ApplicationError listing them all (``details``), nothing unpacked left behind."""
    from labelling.releases.services import validate_directory

    zf, names = _check_zip(source)
    with zf, tempfile.TemporaryDirectory(prefix="bugsift-load-") as tmp:
        problems = _check_checksums(zf, names)
        if problems:
            refuse(problems)
        directory = Path(tmp)
        for name in names:
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, target.open("wb") as dst:
                for block in iter(lambda src=src: src.read(1 << 20), b""):
                    dst.write(block)
        problems = validate_directory(directory)
        if problems:
            refuse([f"frictionless validation: {p}" for p in problems])
        try:
            descriptor = json.loads((directory / pk.DESCRIPTOR).read_text(encoding="utf-8"))
            codebook = json.loads((directory / "codebook.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            refuse([f"datapackage.json or codebook.json cannot be read: {exc}."])
        meta = descriptor.get("bugsift") or {}
        if meta.get("profile") != pk.PROFILE or not isinstance(meta.get("study"), dict):
            refuse(["datapackage.json has no 'bugsift' section: it was not made by a Bugsift release."])
        if meta.get("format", 0) > pk.FORMAT_VERSION:
            refuse([f"the package's format {meta['format']} is newer than this Bugsift reads ({pk.FORMAT_VERSION})."])
        package = CheckedPackage(directory=directory, descriptor=descriptor, codebook=codebook, meta=meta)
        problems = _codebook_problems(package)
        if problems:
            refuse(problems)
        yield package
