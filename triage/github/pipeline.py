"""The GitHub sync pipeline: fetching pages with PyGithub and turning payloads into rows.

Pure functions (no database): ``extract_code_blocks`` (from ``triage.codeblocks``), ``extract_links``, ``issue_record``,
``linked_changes_from_timeline``, ``framework_for``. ``GitHubClient`` fetches one page of issues
(or search results), an issue's comments and its timeline through PyGithub's requester, so the
errors are PyGithub's (``GithubException`` with status and headers) and paging is ours
(``page=N``), which is what makes a sync resumable at a page.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

from triage.codeblocks import Block, extract_code_blocks, looks_like_python  # noqa: F401 - re-exported
from triage.links import web_url

PER_PAGE = 100
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
FRAMEWORKS = {
    "tensorflow/tensorflow": "tensorflow",
    "pytorch/pytorch": "pytorch",
    "keras-team/keras": "keras",
    "apache/mxnet": "mxnet",
    "apache/incubator-mxnet": "mxnet",
    "google/jax": "jax",
    "jax-ml/jax": "jax",
    "eclipse/deeplearning4j": "dl4j",
    "deeplearning4j/deeplearning4j": "dl4j",
}


def framework_for(repository: str) -> str:
    """The framework a repository's issues belong to (its name, lower case, when not known)."""
    return FRAMEWORKS.get(repository.lower(), repository.split("/")[-1].lower()[:32])


# -- code blocks and links -------------------------------------------------------------------


LINK_RE = re.compile(
    r"https?://(?:gist\.github\.com/[\w.-]+(?:/[0-9a-fA-F]+)?"
    r"|nbviewer\.(?:org|jupyter\.org)/[^\s)\]>\"'`]+"
    r"|colab\.research\.google\.com/[^\s)\]>\"'`]+"
    r"|[^\s)\]>\"'`]+\.ipynb)"
)


def extract_links(text: str) -> list[dict]:
    """Gist and notebook links (gist, nbviewer, Colab, any .ipynb), in order, without repeats."""
    found: list[dict] = []
    seen = set()
    for match in LINK_RE.finditer(text or ""):
        url = web_url(match.group(0).rstrip(".,;:"))
        if not url:
            continue
        if url in seen:
            continue
        seen.add(url)
        kind = "gist" if "gist.github.com" in url else "notebook"
        found.append({"kind": kind, "url": url})
    return found


# -- payloads to records -----------------------------------------------------------------------


def _when(value) -> datetime | None:
    return parse_datetime(value) if value else None


@dataclass
class CommentRecord:
    github_id: int
    author: str
    body: str
    created_at: datetime | None
    updated_at: datetime | None


@dataclass
class LinkRecord:
    kind: str
    ref: str
    url: str = ""
    title: str = ""
    state: str = ""
    merged: bool = False
    closes: bool = False
    event_at: datetime | None = None


@dataclass
class IssueRecord:
    """One issue or pull request ready to write."""

    source_id: str
    repository: str
    number: int
    is_pull_request: bool
    title: str
    body: str
    url: str
    state: str
    created_at: datetime | None
    closed_at: datetime | None
    github_updated_at: datetime | None
    labels: list[str]
    author: str
    reactions_count: int
    comments_count: int
    raw: dict
    comments: list[CommentRecord] | None = None  # None: not fetched (keep what is stored)
    links: list[LinkRecord] = field(default_factory=list)

    def text_links(self) -> list[dict]:
        texts = [self.body] + [c.body for c in self.comments or []]
        return extract_links("\n".join(texts))

    def content_hash(self) -> str:
        parts = {
            "title": self.title,
            "body": self.body,
            "state": self.state,
            "closed_at": self.closed_at.isoformat() if self.closed_at else "",
            "labels": sorted(self.labels),
            "comments": [(c.github_id, c.body) for c in self.comments or []],
            "links": sorted((link.kind, link.ref, link.closes) for link in self.links),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


RAW_KEYS = ("id", "node_id", "html_url", "author_association", "state_reason", "locked", "milestone", "assignees")


def issue_record(payload: dict, repository: str) -> IssueRecord:
    number = int(payload["number"])
    is_pr = "pull_request" in payload
    raw = {key: payload.get(key) for key in RAW_KEYS if payload.get(key) not in (None, [], "")}
    if isinstance(raw.get("milestone"), dict):
        raw["milestone"] = raw["milestone"].get("title", "")
    if isinstance(raw.get("assignees"), list):
        raw["assignees"] = [a.get("login", "") for a in raw["assignees"]]
    if is_pr:
        raw["pull_request"] = {k: payload["pull_request"].get(k) for k in ("html_url", "merged_at")}
    return IssueRecord(
        source_id=f"github:{repository}#{number}",
        repository=repository,
        number=number,
        is_pull_request=is_pr,
        title=(payload.get("title") or "")[:1000],
        body=payload.get("body") or "",
        url=web_url(payload.get("html_url")) or f"https://github.com/{repository}/issues/{number}",
        state=payload.get("state") or "",
        created_at=_when(payload.get("created_at")),
        closed_at=_when(payload.get("closed_at")),
        github_updated_at=_when(payload.get("updated_at")),
        labels=[label["name"] if isinstance(label, dict) else str(label) for label in payload.get("labels") or []],
        author=((payload.get("user") or {}).get("login") or "")[:200],
        reactions_count=int((payload.get("reactions") or {}).get("total_count") or 0),
        comments_count=int(payload.get("comments") or 0),
        raw=raw,
    )


def comment_record(payload: dict) -> CommentRecord:
    return CommentRecord(
        github_id=int(payload["id"]),
        author=((payload.get("user") or {}).get("login") or "")[:200],
        body=payload.get("body") or "",
        created_at=_when(payload.get("created_at")),
        updated_at=_when(payload.get("updated_at")),
    )


def linked_changes_from_timeline(events: list[dict], repository: str) -> list[LinkRecord]:
    """Pull requests that cross-reference the issue, and commits that reference or close it.

    A ``closed`` event with a ``commit_id`` marks that commit as closing; a cross-referencing
    pull request is marked closing when it is merged and the issue was closed by a commit."""
    links: dict[tuple[str, str], LinkRecord] = {}
    closed_by_commit = False
    for event in events:
        kind = event.get("event")
        when = _when(event.get("created_at"))
        if kind == "cross-referenced":
            source = (event.get("source") or {}).get("issue") or {}
            if "pull_request" not in source:
                continue
            repo = (source.get("repository") or {}).get("full_name") or repository
            ref = f"{repo}#{source.get('number')}"
            links[("pull_request", ref)] = LinkRecord(
                kind="pull_request",
                ref=ref[:200],
                url=web_url(source.get("html_url")),
                title=(source.get("title") or "")[:1000],
                state=source.get("state") or "",
                merged=bool((source.get("pull_request") or {}).get("merged_at")),
                event_at=when,
            )
        elif kind in ("closed", "referenced") and event.get("commit_id"):
            sha = event["commit_id"]
            closes = kind == "closed"
            closed_by_commit = closed_by_commit or closes
            existing = links.get(("commit", sha))
            url = f"https://github.com/{repository}/commit/{sha}"
            links[("commit", sha)] = LinkRecord(
                kind="commit",
                ref=sha[:200],
                url=url,
                closes=closes or bool(existing and existing.closes),
                event_at=when,
            )
    if closed_by_commit:
        for link in links.values():
            if link.kind == "pull_request" and link.merged:
                link.closes = True
    return list(links.values())


# -- fetching ----------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[dict]
    number: int
    last: int | None  # from the Link header when GitHub gives one
    has_next: bool


LINK_LAST_RE = re.compile(r'[?&]page=(\d+)[^>]*>;\s*rel="last"')


class GitHubClient:
    """What the sync asks GitHub, through PyGithub (``Github(base_url=..., auth=..., retry=...)``)."""

    def __init__(self, *, base_url: str = "", token: str = "", retry=None, timeout: int = 30):
        from github import Auth, Github

        kwargs = {"retry": retry, "per_page": PER_PAGE, "timeout": timeout, "seconds_between_requests": None}
        if base_url:
            kwargs["base_url"] = base_url.rstrip("/")
        if token:
            kwargs["auth"] = Auth.Token(token)
        self.github = Github(**kwargs)
        self.requester = self.github.requester
        self._environment_read = False

    def close(self) -> None:
        self.github.close()

    def _get(self, path: str, parameters: dict | None = None):
        answer = self.requester.requestJsonAndCheck("GET", path, parameters=parameters)
        if not self._environment_read:
            self._read_environment_once()
        return answer

    def _read_environment_once(self) -> None:
        """requests reads proxies and CA bundles from the environment on every request (a third of
        the client's time against a fast server). Read them once, with requests' own rules
        (``merge_environment_settings``: HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, ...), pin them
        on the session and stop the per-request reading. PyGithub keeps its session private; if
        it is not where PyGithub 2.x keeps it, nothing changes."""
        import requests

        self._environment_read = True
        connection = getattr(self.requester, "_Requester__connection", None)
        session = getattr(connection, "session", None)
        if not isinstance(session, requests.Session) or not session.trust_env:
            return
        url = f"{connection.protocol}://{connection.host}:{connection.port}/"
        settings = session.merge_environment_settings(url, {}, None, None, None)
        session.proxies.update(settings["proxies"])
        session.verify = settings["verify"]
        if settings["cert"]:
            session.cert = settings["cert"]
        session.trust_env = False

    def repository(self, repository: str) -> dict:
        return self._get(f"/repos/{repository}")[1]

    def issues_page(self, repository: str, *, page: int, state: str, labels: list[str], since: datetime | None) -> Page:
        params = {"state": state, "sort": "created", "direction": "asc", "per_page": PER_PAGE, "page": page}
        if labels:
            params["labels"] = ",".join(labels)
        if since:
            params["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers, data = self._get(f"/repos/{repository}/issues", params)
        return _page(headers, data, page)

    def search_page(self, query: str, *, page: int) -> Page:
        params = {"q": query, "sort": "created", "order": "asc", "per_page": PER_PAGE, "page": page}
        headers, data = self._get("/search/issues", params)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise ValueError("the search answer has no list of items")
        return _page(headers, data["items"], page)

    def _all(self, path: str) -> list[dict]:
        rows, page = [], 1
        while True:
            headers, data = self._get(path, {"per_page": PER_PAGE, "page": page})
            result = _page(headers, data, page)
            rows.extend(result.items)
            if not result.has_next:
                return rows
            page += 1

    def comments(self, repository: str, number: int) -> list[dict]:
        return self._all(f"/repos/{repository}/issues/{number}/comments")

    def timeline(self, repository: str, number: int) -> list[dict]:
        return self._all(f"/repos/{repository}/issues/{number}/timeline")


def _page(headers: dict, data, number: int) -> Page:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("GitHub answered with something that is not a list of objects")
    link = headers.get("link", "")
    last = LINK_LAST_RE.search(link)
    return Page(items=data, number=number, last=int(last.group(1)) if last else None, has_next='rel="next"' in link)


def search_query(
    *,
    repository: str,
    query: str,
    state: str,
    labels: list[str],
    include_pull_requests: bool,
    created_from: datetime | None,
    created_to: datetime | None,
    closed_from: datetime | None,
    closed_to: datetime | None,
    since: datetime | None,
) -> str:
    """The GitHub search string for a source with a query (date windows go into the query)."""
    terms = [f"repo:{repository}", query.strip()]
    if not include_pull_requests:
        terms.append("is:issue")
    if state in ("open", "closed"):
        terms.append(f"state:{state}")
    terms += [f'label:"{label}"' for label in labels]

    def window(name, start, end):
        if start or end:
            a = start.strftime("%Y-%m-%d") if start else "*"
            b = end.strftime("%Y-%m-%d") if end else "*"
            terms.append(f"{name}:{a}..{b}")

    window("created", created_from, created_to)
    window("closed", closed_from, closed_to)
    if since:
        terms.append(f"updated:>={since.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return " ".join(t for t in terms if t)
