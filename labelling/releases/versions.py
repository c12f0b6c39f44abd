"""Semantic versions (https://semver.org): ``MAJOR.MINOR.PATCH`` with an optional ``-prerelease``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.errors import ApplicationError

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core

    def key(self) -> tuple:
        """A sort key with semver precedence: a pre-release sorts before its release."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease.split("."))
        return (self.major, self.minor, self.patch, 0, parts)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()


def parse_version(text: str) -> Version:
    """``1.0.0`` -> Version; ApplicationError saying what a version looks like otherwise."""
    text = (text or "").strip()
    if text.startswith("v"):
        text = text[1:]
    match = _SEMVER.match(text) if len(text) <= 64 else None
    if not match:
        raise ApplicationError(
            f"'{text[:80]}' is not a semantic version (of at most 64 characters). Write MAJOR.MINOR.PATCH, "
            "e.g. 1.0.0 (or 1.1.0-rc.1).",
            details=[{"field": "version", "message": "Use MAJOR.MINOR.PATCH, e.g. 1.0.0."}],
        )
    return Version(int(match[1]), int(match[2]), int(match[3]), match[4] or "")
