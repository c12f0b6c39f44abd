"""GitHub ingestion: 20,000 issues with 3 comments each from the fake GitHub server into PostgreSQL.

Compares the sync (PyGithub + parsing + code-block extraction + bulk upserts, page by page)
with plain HTTP requests (http.client from the standard library, one kept-alive connection,
as PyGithub uses) fetching exactly the same URLs without storing anything: the issue pages,
each issue's comments and each issue's timeline. The fake server runs in its own process.
Target: ingestion at >= 50% of the fetch-only rate. Also times a second, incremental sync
(nothing changed: one page request, no per-issue requests).

    .venv/bin/python benchmarks/bench_github.py [--scale 0.1]
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bugsift_bench_gh).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._table import print_table, setup_django  # noqa: E402

REPO = "tensorflow/tensorflow"
PER_PAGE = 100


def _serve(issues: int, comments: int, ready):
    from tests.fakes.github_server import GitHubServer

    server = GitHubServer()
    server.add_repo(REPO, issues=issues, comments=comments)
    for n in range(1, issues + 1, 10):  # some issues have a fixing pull request in their timeline
        server.link_pull_request(REPO, n, 100_000 + n, touch=False)
    server.rate_limit = 10**9
    ready.put(server.url)
    server.httpd.serve_forever()


def fetch_only(url: str, issues: int, *, keep_alive: bool) -> tuple[float, int]:
    """Fetch what the sync fetches, without storing: with urllib.request (a connection per
    request, as the brief's baseline) or http.client on one kept-alive connection (stricter)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    requests = 0

    def get(path):
        nonlocal requests
        requests += 1
        if not keep_alive:
            request = urllib.request.Request(url + path, headers={"Accept": "application/vnd.github+json"})
            with urllib.request.urlopen(request) as response:
                return json.loads(response.read())
        conn.request("GET", path, headers={"Accept": "application/vnd.github+json"})
        return json.loads(conn.getresponse().read())

    start = time.perf_counter()
    get(f"/repos/{REPO}")
    page = 1
    while True:
        rows = get(f"/repos/{REPO}/issues?state=closed&sort=created&direction=asc&per_page={PER_PAGE}&page={page}")
        for issue in rows:
            if issue["comments"]:
                get(f"/repos/{REPO}/issues/{issue['number']}/comments?per_page={PER_PAGE}&page=1")
            get(f"/repos/{REPO}/issues/{issue['number']}/timeline?per_page={PER_PAGE}&page=1")
        if len(rows) < PER_PAGE:
            break
        page += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 20,000 issues (e.g. 0.1)")
    args = parser.parse_args()
    issues = max(100, int(20_000 * args.scale))
    comments = 3

    setup_django(
        db_url=None
        if "BENCH_DATABASE_URL" in __import__("os").environ
        else "postgres://postgres@127.0.0.1:5432/bugsift_bench_gh"
    )
    from django.db import connection

    from triage.github import services
    from triage.models import GitHubSource, Report

    ready = multiprocessing.get_context("spawn").Queue()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(issues, comments, ready), daemon=True)
    server.start()
    url = ready.get(timeout=300)
    try:
        fetch_s, requests = fetch_only(url, issues, keep_alive=False)
        fetch_ka_s, _ = fetch_only(url, issues, keep_alive=True)

        Report.objects.filter(source_id__startswith=f"github:{REPO}#").delete()
        GitHubSource.objects.filter(repository=REPO).delete()
        source = services.github_source_create(created_by=None, repository=REPO, state="closed", base_url=url)
        run = services.sync_run_start(source=source, created_by=None, queue=False)
        start = time.perf_counter()
        run = services.sync_run_execute(run_id=run.pk)
        sync_s = time.perf_counter() - start
        assert run.status == "succeeded", run.message
        assert run.issues_new == issues, (run.issues_new, issues)

        run2 = services.sync_run_start(source=source, created_by=None, queue=False)
        start = time.perf_counter()
        run2 = services.sync_run_execute(run_id=run2.pk)
        again_s = time.perf_counter() - start
        from triage.models import CodeBlock, Comment, LinkedChange

        counts = (
            Comment.objects.filter(report__source_id__startswith=f"github:{REPO}#").count(),
            CodeBlock.objects.filter(report__source_id__startswith=f"github:{REPO}#").count(),
            LinkedChange.objects.filter(report__source_id__startswith=f"github:{REPO}#").count(),
        )
    finally:
        server.terminate()

    fetch_rate, fetch_ka_rate, sync_rate = issues / fetch_s, issues / fetch_ka_s, issues / sync_s
    ratio = sync_rate / fetch_rate
    print_table(
        f"GitHub ingestion: {issues:,} issues x {comments} comments ({requests:,} HTTP requests), "
        f"PostgreSQL {connection.settings_dict['NAME']}",
        [
            (
                "fetch only: urllib.request, no storing",
                f"{fetch_rate:,.0f} issues/s ({fetch_s:.1f} s)",
                "-",
                "baseline",
                None,
            ),
            (
                "fetch only: http.client keep-alive, no storing",
                f"{fetch_ka_rate:,.0f} issues/s ({fetch_ka_s:.1f} s)",
                "-",
                "stricter baseline",
                None,
            ),
            (
                "sync: PyGithub + parse + bulk upsert",
                f"{sync_rate:,.0f} issues/s ({sync_s:.1f} s)",
                ">= 50% of urllib fetch only",
                f"{ratio:.0%} (keep-alive: {sync_rate / fetch_ka_rate:.0%})",
                ratio >= 0.5,
            ),
            (
                "rows written (comments, code blocks, linked changes)",
                ", ".join(f"{c:,}" for c in counts),
                "-",
                "-",
                None,
            ),
            (
                "second sync, nothing changed (incremental)",
                f"{again_s:.2f} s, {run2.issues_unchanged} unchanged",
                "-",
                f"{run2.pages_fetched} page(s)",
                None,
            ),
        ],
    )


if __name__ == "__main__":
    main()
