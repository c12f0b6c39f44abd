"""Pure functions of triage/github/pipeline.py: links, payloads, timelines."""

from triage.github.pipeline import (
    extract_links,
    framework_for,
    issue_record,
    linked_changes_from_timeline,
    search_query,
)


def test_gist_and_notebook_links_in_order_without_repeats():
    text = (
        "See https://gist.github.com/alice/0abc12, (https://colab.research.google.com/drive/1XyZ). "
        "Also https://nbviewer.org/github/a/b/blob/main/x.ipynb and https://example.org/n.ipynb, "
        "again https://gist.github.com/alice/0abc12 and https://github.com/a/b (not a notebook)."
    )
    assert extract_links(text) == [
        {"kind": "gist", "url": "https://gist.github.com/alice/0abc12"},
        {"kind": "notebook", "url": "https://colab.research.google.com/drive/1XyZ"},
        {"kind": "notebook", "url": "https://nbviewer.org/github/a/b/blob/main/x.ipynb"},
        {"kind": "notebook", "url": "https://example.org/n.ipynb"},
    ]


def test_issue_record_from_a_payload_and_a_pull_request_is_recognised():
    payload = {
        "number": 7,
        "title": "Bug",
        "body": None,
        "html_url": "https://github.com/keras-team/keras/issues/7",
        "state": "closed",
        "created_at": "2023-01-01T00:00:00Z",
        "closed_at": "2023-01-02T00:00:00Z",
        "updated_at": "2023-01-03T00:00:00Z",
        "labels": [{"name": "type:bug"}],
        "user": {"login": "alice"},
        "reactions": {"total_count": 4},
        "comments": 2,
    }
    record = issue_record(payload, "keras-team/keras")
    assert record.source_id == "github:keras-team/keras#7"
    assert (record.body, record.author, record.reactions_count, record.labels) == ("", "alice", 4, ["type:bug"])
    assert not record.is_pull_request
    assert issue_record({**payload, "pull_request": {"html_url": "x"}}, "keras-team/keras").is_pull_request
    assert framework_for("keras-team/keras") == "keras"
    assert framework_for("Acme/MyNet") == "mynet"


def test_timeline_gives_pull_requests_and_commits_and_marks_what_closed_the_issue():
    events = [
        {"event": "labeled", "created_at": "2023-01-01T00:00:00Z"},
        {
            "event": "cross-referenced",
            "created_at": "2023-01-02T00:00:00Z",
            "source": {
                "type": "issue",
                "issue": {
                    "number": 99,
                    "title": "Fix it",
                    "state": "closed",
                    "html_url": "https://github.com/o/r/pull/99",
                    "repository": {"full_name": "o/r"},
                    "pull_request": {"merged_at": "2023-01-03T00:00:00Z"},
                },
            },
        },
        {"event": "cross-referenced", "source": {"issue": {"number": 5, "repository": {"full_name": "o/r"}}}},
        {"event": "referenced", "commit_id": "a" * 40, "created_at": "2023-01-02T00:00:00Z"},
        {"event": "closed", "commit_id": "b" * 40, "created_at": "2023-01-03T00:00:00Z"},
        {"event": "closed", "commit_id": None},
    ]
    links = {(link.kind, link.ref): link for link in linked_changes_from_timeline(events, "o/r")}
    assert set(links) == {("pull_request", "o/r#99"), ("commit", "a" * 40), ("commit", "b" * 40)}
    assert links[("pull_request", "o/r#99")].merged and links[("pull_request", "o/r#99")].closes
    assert links[("commit", "b" * 40)].closes and not links[("commit", "a" * 40)].closes
    assert links[("commit", "a" * 40)].url == "https://github.com/o/r/commit/" + "a" * 40


def test_search_query_puts_the_filters_into_github_syntax():
    from datetime import UTC, datetime

    q = search_query(
        repository="o/r",
        query="conv2d in:title",
        state="closed",
        labels=["comp:keras"],
        include_pull_requests=False,
        created_from=datetime(2020, 1, 1, tzinfo=UTC),
        created_to=None,
        closed_from=None,
        closed_to=None,
        since=None,
    )
    assert q == 'repo:o/r conv2d in:title is:issue state:closed label:"comp:keras" created:2020-01-01..*'
