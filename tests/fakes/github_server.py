"""A local HTTP server that answers like the GitHub REST API, for PyGithub through ``base_url``.

What it serves (only what the sync calls): ``GET /repos/{o}/{r}``, ``/repos/{o}/{r}/issues``
(state, labels, since, sort, direction, per_page, page; Link header pagination; pull requests
appear in the list with a ``pull_request`` key, as on GitHub), ``/repos/{o}/{r}/issues/{n}/comments``,
``/repos/{o}/{r}/issues/{n}/timeline``, ``/search/issues`` (``repo:o/r`` plus ``is:issue``/``is:pr``,
``state:``, ``label:``) and ``/rate_limit``. Every answer carries the X-RateLimit-* headers.

Failures on demand: ``server.fail_next(path_regex, status, times=1, headers=None, body=None)``;
``status`` may also be ``"reset"`` (the connection is reset) or ``"malformed"`` (200 with broken
JSON). Helpers make primary/secondary rate-limit answers: ``server.rate_limit_next(...)``.

Data is generated deterministically: ``server.add_repo("o/r", issues=N, comments=M, pr_every=k)``.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

BASE_TIME = datetime(2023, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str, uid: int) -> dict:
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


ISSUE_BODY = """`tf.nn.conv2d` gives a wrong shape with `padding='same'` (issue {n}).

```python
import tensorflow as tf
x = tf.ones([1, 5, 5, 1])
print(tf.nn.conv2d(x, tf.ones([3, 3, 1, 1]), strides=2, padding="SAME").shape)
```

The log:

~~~
Traceback (most recent call last):
ValueError: shapes do not match
~~~

Also in this notebook: https://colab.research.google.com/drive/1AbC{n} and https://gist.github.com/alice/{n:08x}
"""

COMMENT_BODY = """I can reproduce it on 2.{k}.

    import numpy as np
    print(np.zeros(3))

See https://nbviewer.org/github/alice/notebooks/blob/main/issue{n}.ipynb
"""


@dataclass
class Failure:
    pattern: re.Pattern
    status: int | str
    times: int
    headers: dict = field(default_factory=dict)
    body: object = None


@dataclass
class Repo:
    full_name: str
    issues: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    timelines: dict[int, list[dict]] = field(default_factory=dict)


class FakeGitHub:
    """The state behind the server. Thread-safe enough for one sync at a time."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.failures: list[Failure] = []
        self.requests: list[str] = []
        self.request_headers: list[dict] = []  # each request's headers, to check what was sent (tokens)
        self.rate_limit = 5000
        self.rate_used = 0
        self.delay = 0.0  # seconds added to every answer (to watch progress in a browser test)
        self.lock = threading.Lock()
        self._comment_id = 10_000_000
        self.url = ""  # set when served

    # -- data ---------------------------------------------------------------------------------
    def add_repo(self, full_name: str, *, issues: int = 0, comments: int = 2, pr_every: int = 0) -> Repo:
        repo = self.repos.setdefault(full_name, Repo(full_name))
        for n in range(1, issues + 1):
            is_pr = bool(pr_every) and n % pr_every == 0
            self.add_issue(full_name, n, comments=comments, pull_request=is_pr)
        return repo

    def add_issue(
        self,
        full_name: str,
        number: int,
        *,
        comments: int = 2,
        pull_request: bool = False,
        state: str = "closed",
        labels=("type:bug", "comp:keras"),
        body: str | None = None,
    ) -> dict:
        repo = self.repos.setdefault(full_name, Repo(full_name))
        created = BASE_TIME + timedelta(hours=number)
        api = f"{self.url}/repos/{full_name}/issues/{number}"
        html = f"https://github.com/{full_name}/{'pull' if pull_request else 'issues'}/{number}"
        issue = {
            "url": api,
            "repository_url": f"{self.url}/repos/{full_name}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "timeline_url": f"{api}/timeline",
            "html_url": html,
            "id": 900_000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "title": f"conv2d returns a wrong shape with padding='same' ({number})",
            "user": user(f"reporter{number % 7}", 100 + number % 7),
            "labels": [
                {"id": 50 + i, "name": name, "color": "d73a4a", "description": "", "default": False}
                for i, name in enumerate(labels)
            ],
            "state": state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": comments,
            "created_at": iso(created),
            "updated_at": iso(created + timedelta(days=1)),
            "closed_at": iso(created + timedelta(days=1)) if state == "closed" else None,
            "author_association": "NONE",
            "body": ISSUE_BODY.format(n=number) if body is None else body,
            "reactions": {"url": f"{api}/reactions", "total_count": number % 5, "+1": number % 5, "-1": 0},
            "state_reason": "completed" if state == "closed" else None,
        }
        if pull_request:
            issue["pull_request"] = {
                "url": f"{self.url}/repos/{full_name}/pulls/{number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": issue["closed_at"],
            }
        repo.issues[number] = issue
        repo.comments[number] = [self._comment(full_name, number, k, created) for k in range(comments)]
        repo.timelines[number] = []
        return issue

    def _comment(self, full_name: str, number: int, k: int, created: datetime) -> dict:
        self._comment_id += 1
        cid = self._comment_id
        return {
            "url": f"{self.url}/repos/{full_name}/issues/comments/{cid}",
            "html_url": f"https://github.com/{full_name}/issues/{number}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{full_name}/issues/{number}",
            "id": cid,
            "node_id": f"IC_{cid}",
            "user": user(f"helper{k}", 200 + k),
            "created_at": iso(created + timedelta(hours=k + 1)),
            "updated_at": iso(created + timedelta(hours=k + 1)),
            "author_association": "CONTRIBUTOR",
            "body": COMMENT_BODY.format(n=number, k=k),
            "reactions": {"total_count": 0},
        }

    def touch(self, full_name: str, number: int, *, at: datetime | None = None, **changes) -> dict:
        """Change an issue as GitHub would (``updated_at`` moves forward)."""
        issue = self.repos[full_name].issues[number]
        issue.update(changes)
        if changes.get("state") == "open":
            issue["closed_at"] = None
        elif changes.get("state") == "closed" and not issue.get("closed_at"):
            issue["closed_at"] = iso(at or datetime.now(UTC))
        issue["updated_at"] = iso(at or datetime.now(UTC))
        return issue

    def add_comment(self, full_name: str, number: int, body: str, *, at: datetime | None = None) -> dict:
        issue = self.repos[full_name].issues[number]
        comment = self._comment(full_name, number, len(self.repos[full_name].comments[number]), BASE_TIME)
        comment["body"] = body
        self.repos[full_name].comments[number].append(comment)
        issue["comments"] += 1
        self.touch(full_name, number, at=at)
        return comment

    def link_pull_request(
        self, full_name: str, number: int, pr_number: int, *, closes: bool = True, touch: bool = True
    ) -> None:
        """A cross-referenced event from PR ``pr_number`` and, if ``closes``, a closed event with its commit."""
        when = iso(datetime.now(UTC))
        html = f"https://github.com/{full_name}/pull/{pr_number}"
        source_issue = {
            "number": pr_number,
            "title": f"Fix conv2d padding (fixes #{number})",
            "state": "closed",
            "html_url": html,
            "url": f"{self.url}/repos/{full_name}/issues/{pr_number}",
            "user": user("fixer", 300),
            "repository": {"full_name": full_name, "html_url": f"https://github.com/{full_name}"},
            "pull_request": {
                "url": f"{self.url}/repos/{full_name}/pulls/{pr_number}",
                "html_url": html,
                "merged_at": when,
            },
        }
        events = self.repos[full_name].timelines[number]
        events.append(
            {
                "event": "cross-referenced",
                "actor": user("fixer", 300),
                "created_at": when,
                "updated_at": when,
                "source": {"type": "issue", "issue": source_issue},
            }
        )
        if closes:
            sha = f"{pr_number:040x}"
            events.append(
                {
                    "id": 77_000 + pr_number,
                    "event": "closed",
                    "actor": user("fixer", 300),
                    "commit_id": sha,
                    "commit_url": f"{self.url}/repos/{full_name}/commits/{sha}",
                    "created_at": when,
                    "state_reason": "completed",
                }
            )
        if touch:
            self.touch(full_name, number)

    def add_reference(self, full_name: str, number: int, sha: str) -> None:
        when = iso(datetime.now(UTC))
        self.repos[full_name].timelines[number].append(
            {
                "id": 88_000 + len(sha),
                "event": "referenced",
                "actor": user("dev", 301),
                "commit_id": sha,
                "commit_url": f"{self.url}/repos/{full_name}/commits/{sha}",
                "created_at": when,
            }
        )

    # -- failures -------------------------------------------------------------------------------
    def fail_next(self, path_regex: str, status, times: int = 1, *, headers=None, body=None) -> None:
        with self.lock:
            self.failures.append(Failure(re.compile(path_regex), status, times, dict(headers or {}), body))

    def rate_limit_next(
        self,
        path_regex: str,
        *,
        secondary: bool = False,
        status: int = 403,
        reset_in: int = 3,
        retry_after: int = 2,
        times: int = 1,
    ) -> None:
        if secondary:
            self.fail_next(
                path_regex,
                403,
                times,
                headers={"Retry-After": str(retry_after)},
                body={
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
                },
            )
        else:
            self.fail_next(
                path_regex,
                status,
                times,
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + reset_in)},
                body={
                    "message": "API rate limit exceeded for 127.0.0.1.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
                },
            )

    def _take_failure(self, path: str) -> Failure | None:
        with self.lock:
            for failure in self.failures:
                if failure.pattern.search(path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def count(self, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        return sum(1 for p in list(self.requests) if pattern.search(p))


ISSUES = re.compile(r"^/repos/([^/]+/[^/]+)/issues$")
COMMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
TIMELINE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/timeline$")
REPO = re.compile(r"^/repos/([^/]+/[^/]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stalls)
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        fake = self.server.fake
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with fake.lock:
            fake.requests.append(self.path)
            fake.request_headers.append(dict(self.headers.items()))
            fake.rate_used += 1
        if fake.delay:
            time.sleep(fake.delay)
        failure = fake._take_failure(self.path)
        if failure is not None:
            return self._fail(failure)
        if path == "/rate_limit":
            core = self._core_limits()
            return self._json(200, {"resources": {"core": core, "search": core}, "rate": core})
        if path == "/search/issues":
            return self._search(query)
        if m := REPO.match(path):
            repo = fake.repos.get(m[1])
            if repo is None:
                return self._not_found()
            return self._json(200, self._repo_payload(repo))
        if m := ISSUES.match(path):
            repo = fake.repos.get(m[1])
            if repo is None:
                return self._not_found()
            return self._paged(self._issues(repo, query), query)
        if m := COMMENTS.match(path):
            repo = fake.repos.get(m[1])
            if repo is None or int(m[2]) not in repo.issues:
                return self._not_found()
            return self._paged(repo.comments[int(m[2])], query)
        if m := TIMELINE.match(path):
            repo = fake.repos.get(m[1])
            if repo is None or int(m[2]) not in repo.issues:
                return self._not_found()
            return self._paged(repo.timelines[int(m[2])], query)
        return self._not_found()

    # -- answers --------------------------------------------------------------------------------
    def _issues(self, repo: Repo, query: dict) -> list[dict]:
        state = query.get("state", "open")
        issues = list(repo.issues.values())
        if state != "all":
            issues = [i for i in issues if i["state"] == state]
        if labels := query.get("labels"):
            wanted = set(labels.split(","))
            issues = [i for i in issues if wanted <= {label["name"] for label in i["labels"]}]
        if since := query.get("since"):
            issues = [i for i in issues if i["updated_at"] >= since]
        key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[query.get("sort", "created")]
        issues.sort(key=lambda i: (i[key], i["number"]), reverse=query.get("direction", "desc") == "desc")
        return issues

    def _search(self, query: dict) -> None:
        q = query.get("q", "")
        terms = q.split()
        repo_names = [t[5:] for t in terms if t.startswith("repo:")]
        repo = self.server.fake.repos.get(repo_names[0]) if repo_names else None
        if repo is None:
            return self._json(422, {"message": "Validation Failed", "errors": [{"message": "repo not found"}]})
        issues = self._issues(repo, {"state": "all", "sort": "created", "direction": "asc"})
        for term in terms:
            if term == "is:issue":
                issues = [i for i in issues if "pull_request" not in i]
            elif term == "is:pr":
                issues = [i for i in issues if "pull_request" in i]
            elif term.startswith(("state:", "is:open", "is:closed")):
                state = term.split(":", 1)[1]
                issues = [i for i in issues if i["state"] == state]
            elif term.startswith("label:"):
                name = term[6:].strip('"')
                issues = [i for i in issues if name in {label["name"] for label in i["labels"]}]
            elif not term.startswith(("repo:", "created:", "closed:", "updated:")):
                issues = [i for i in issues if term.lower() in (i["title"] + (i["body"] or "")).lower()]
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
        items = issues[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(issues) // per_page))
        return self._json(
            200,
            {"total_count": len(issues), "incomplete_results": False, "items": items},
            links=self._links(query, page, last),
        )

    def _paged(self, rows: list, query: dict) -> None:
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        last = max(1, -(-len(rows) // per_page))
        return self._json(200, rows[(page - 1) * per_page : page * per_page], links=self._links(query, page, last))

    def _links(self, query: dict, page: int, last: int) -> str:
        base = f"{self.server.fake.url}{urlparse(self.path).path}"

        def link(n, rel):
            return f'<{base}?{urlencode({**query, "page": n})}>; rel="{rel}"'

        parts = []
        if page < last:
            parts += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            parts += [link(1, "first"), link(page - 1, "prev")]
        return ", ".join(parts)

    def _repo_payload(self, repo: Repo) -> dict:
        owner, name = repo.full_name.split("/")
        url = f"{self.server.fake.url}/repos/{repo.full_name}"
        return {
            "id": abs(hash(repo.full_name)) % 10**8,
            "name": name,
            "full_name": repo.full_name,
            "owner": user(owner, 1),
            "private": False,
            "html_url": f"https://github.com/{repo.full_name}",
            "url": url,
            "issues_url": url + "/issues{/number}",
            "open_issues_count": sum(1 for i in repo.issues.values() if i["state"] == "open"),
            "has_issues": True,
            "default_branch": "main",
        }

    def _core_limits(self) -> dict:
        fake = self.server.fake
        return {
            "limit": fake.rate_limit,
            "remaining": max(0, fake.rate_limit - fake.rate_used),
            "reset": int(time.time()) + 3600,
            "used": fake.rate_used,
            "resource": "core",
        }

    def _not_found(self):
        return self._json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _fail(self, failure: Failure):
        if failure.status == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return None
        if failure.status == "malformed":
            return self._raw(200, b'[{"number": 1, "title": "cut off', failure.headers)
        body = failure.body
        if body is None:
            body = {
                401: {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                404: {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                410: {
                    "message": "Issues are disabled for this repo",
                    "documentation_url": "https://docs.github.com/rest",
                },
                301: {"message": "Moved Permanently"},
            }.get(failure.status, {"message": "Server Error"})
        return self._json(failure.status, body, extra=failure.headers)

    def _json(self, status: int, data, *, links: str = "", extra: dict | None = None):
        headers = dict(extra or {})
        if links:
            headers["Link"] = links
        return self._raw(status, json.dumps(data).encode(), headers)

    def _raw(self, status: int, payload: bytes, headers: dict):
        core = self._core_limits()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        base = {
            "X-RateLimit-Limit": str(core["limit"]),
            "X-RateLimit-Remaining": str(core["remaining"]),
            "X-RateLimit-Reset": str(core["reset"]),
            "X-RateLimit-Used": str(core["used"]),
            "X-RateLimit-Resource": "core",
        }
        base.update(headers)
        for key, value in base.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class GitHubServer:
    """A running fake: ``.url`` is the base URL to give PyGithub; ``.fake`` holds the data."""

    def __init__(self, fake: FakeGitHub | None = None, host: str = "127.0.0.1", port: int = 0):
        self.fake = fake or FakeGitHub()
        self.httpd = _Server((host, port), Handler)
        self.httpd.fake = self.fake
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.fake.url = self.url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> GitHubServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __getattr__(self, name):  # server.add_repo(...), server.fail_next(...), ...
        return getattr(self.fake, name)


def github_server_fixture(settings, monkeypatch):
    """The fake server, allowed as a GitHub Enterprise API URL (BUGSIFT_GITHUB_API_URLS) for this
    process and for worker processes started from it."""
    server = GitHubServer().start()
    allowed = [*settings.BUGSIFT_GITHUB_API_URLS, server.url]
    settings.BUGSIFT_GITHUB_API_URLS = allowed
    monkeypatch.setenv("BUGSIFT_GITHUB_API_URLS", ",".join(allowed))
    try:
        yield server
    finally:
        server.stop()


try:  # a pytest fixture when pytest is there (the benchmark imports this module without it)
    import pytest

    github_server = pytest.fixture(github_server_fixture, name="github_server")
except ImportError:  # pragma: no cover
    pass
