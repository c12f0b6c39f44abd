"""Keyset pages (config/keyset.py) through the lists that use them: study items, reports and
crash groups, as HTML pages and API lists. Walking every page, forwards and back, returns every
row exactly once in the order of the sort (ties in the sort key and NULLs included); a cursor
the list did not give out, or page numbers, are a clear 400."""

from datetime import UTC, datetime, timedelta

import pytest

from labelling.models import Annotation, StudyItem
from tests.factories import AnnotationFactory, ReportFactory, StudyItemFactory, UserFactory
from triage.models import CrashGroup, Report, SourceLabel

T0 = datetime(2024, 3, 1, tzinfo=UTC)
MAX_PAGES = 30  # more pages than any list here has: a walk that loops fails instead of hanging


def _walk_api(client, url, params):
    """Every page's ids following ``next`` from page 1, then following ``previous`` back."""
    pages, body = [], client.get(url, params).json()
    pages.append([r["id"] for r in body["results"]])
    assert body["previous"] is None
    while body["next"]:
        assert len(pages) < MAX_PAGES, "the next links go round in circles"
        body = client.get(body["next"]).json()
        pages.append([r["id"] for r in body["results"]])
    back = [[r["id"] for r in body["results"]]]
    while body["previous"]:
        assert len(back) < MAX_PAGES, "the previous links go round in circles"
        body = client.get(body["previous"]).json()
        back.append([r["id"] for r in body["results"]])
    return pages, back[::-1]


def _walk_html(client, url, params, ids_of):
    pages, response = [], client.get(url, params)
    assert response.status_code == 200
    pages.append(ids_of(response.context["page"]))
    assert not response.context["page"].has_previous
    while response.context["page"].has_next:
        assert len(pages) < MAX_PAGES, "the next links go round in circles"
        response = client.get(f"{url}?{response.context['next_query']}")
        assert response.status_code == 200
        pages.append(ids_of(response.context["page"]))
    back = [ids_of(response.context["page"])]
    while response.context["page"].has_previous:
        assert len(back) < MAX_PAGES, "the previous links go round in circles"
        response = client.get(f"{url}?{response.context['previous_query']}")
        back.append(ids_of(response.context["page"]))
    return pages, back[::-1]


def _ids(page):
    return [row.pk for row in page.object_list]


def _flat(pages):
    return [i for page in pages for i in page]


# --- crash groups: two sorts with ties and NULLs ---------------------------------------------


@pytest.fixture
def groups(db):
    """15 groups: occurrence counts and last-seen times repeat, two were never seen (NULL), one
    is merged away (never listed); frameworks jax and pytorch."""
    made = []
    for i in range(15):
        last_seen = None if i in (4, 11) else T0 + timedelta(hours=i % 3)
        report = ReportFactory(kind=Report.Kind.CRASH, framework="jax" if i % 2 else "pytorch")
        made.append(
            CrashGroup.objects.create(
                report=report,
                signature=f"{i:064d}",
                framework=report.framework,
                oracle="crash",
                occurrence_count=1 + i % 4,
                last_seen=last_seen,
            )
        )
    made[7].merged_into = made[0]
    made[7].save(update_fields=["merged_into"])
    return made


def _expected_groups(groups, *, sort, framework=""):
    shown = [g for g in groups if g.merged_into_id is None and (not framework or g.framework == framework)]

    def recency(g):  # most recent first, never seen last
        return (g.last_seen is None, -(g.last_seen.timestamp() if g.last_seen else 0))

    if sort == "count":
        return [g.pk for g in sorted(shown, key=lambda g: (-g.occurrence_count, *recency(g), g.pk))]
    return [g.pk for g in sorted(shown, key=lambda g: (*recency(g), g.pk))]


@pytest.mark.parametrize("sort", ["count", "recent"])
@pytest.mark.parametrize("framework", ["", "jax"])
def test_crash_group_api_pages_hold_every_group_once_in_order(api_client, groups, sort, framework):
    api_client.force_authenticate(UserFactory())
    params = {"sort": sort, "page_size": 2, **({"framework": framework} if framework else {})}
    pages, back = _walk_api(api_client, "/api/crash-groups/", params)
    assert _flat(pages) == _expected_groups(groups, sort=sort, framework=framework)
    assert all(len(p) == 2 for p in pages[:-1]) and back == pages


@pytest.mark.parametrize("sort", ["count", "recent"])
def test_crash_list_page_walks_every_group_once_in_order(client, groups, sort, monkeypatch):
    monkeypatch.setattr("triage.crashes.views.PAGE_SIZE", 3)
    client.force_login(UserFactory())
    pages, back = _walk_html(client, "/reports/crashes/", {"sort": sort}, _ids)
    assert _flat(pages) == _expected_groups(groups, sort=sort) and back == pages
    assert "14 crash groups" in client.get("/reports/crashes/", {"sort": sort}).content.decode()


def test_crash_list_cursor_of_one_sort_is_refused_by_the_other(api_client, client, groups):
    user = UserFactory()
    api_client.force_authenticate(user)
    body = api_client.get("/api/crash-groups/", {"sort": "count", "page_size": 2}).json()
    cursor = body["next"].split("cursor=")[1].split("&")[0]
    response = api_client.get("/api/crash-groups/", {"sort": "recent", "cursor": cursor})
    assert response.status_code == 400
    assert "another sort" in response.json()["details"]["cursor"][0]
    client.force_login(user)
    page = client.get("/reports/crashes/", {"sort": "recent", "cursor": cursor})
    assert page.status_code == 400 and "another sort" in page.content.decode()
    assert api_client.get("/api/crash-groups/", {"sort": "loudest"}).status_code == 400


# --- reports ------------------------------------------------------------------------------------


@pytest.fixture
def reports(db):
    bug = SourceLabel.objects.create(name="type:bug")
    made = [ReportFactory(framework=("jax", "pytorch", "keras")[i % 3]) for i in range(11)]
    for r in made[::2]:
        r.source_labels.add(bug)
    return made


@pytest.mark.parametrize(
    "params, keep",
    [
        ({}, lambda r: True),
        ({"framework": "jax"}, lambda r: r.framework == "jax"),
        ({"label": "type:bug"}, lambda r: r.source_labels.filter(name="type:bug").exists()),
    ],
)
def test_report_api_and_page_walk_every_report_once(api_client, client, reports, params, keep, monkeypatch):
    expected = [r.pk for r in reports if keep(r)]
    user = UserFactory()
    api_client.force_authenticate(user)
    pages, back = _walk_api(api_client, "/api/reports/", {**params, "page_size": 3})
    assert _flat(pages) == expected and back == pages
    monkeypatch.setattr("triage.reports.views.PAGE_SIZE", 2)
    client.force_login(user)
    pages, back = _walk_html(client, "/reports/", params, _ids)
    assert _flat(pages) == expected and back == pages


def test_filtered_report_count_stops_at_its_bound(client, reports, monkeypatch):
    monkeypatch.setattr("config.keyset.COUNT_LIMIT", 2)
    client.force_login(UserFactory())
    page = client.get("/reports/", {"framework": "jax"}).content.decode()
    assert "More than 2 of 11 reports match these filters" in page
    page = client.get("/reports/", {"framework": "jax", "q": reports[0].title}).content.decode()
    assert "1 of 11 reports matches these filters" in page


# --- study items -------------------------------------------------------------------------------


@pytest.fixture
def items(small_study):
    study = small_study["study"]
    made = [StudyItemFactory(study=study, screening=("pending", "included", "excluded")[i % 3]) for i in range(10)]
    StudyItem.objects.filter(pk__in=[made[1].pk, made[6].pk, made[7].pk]).update(needs_review=True)
    AnnotationFactory(item=made[8], annotator=small_study["ann1"], dimension=small_study["symptom"])
    Annotation.objects.filter(item=made[8]).update(needs_recode=True)
    StudyItemFactory(study=StudyItemFactory().study)  # another study's item, never listed
    return made


@pytest.mark.parametrize(
    "params, keep",
    [
        ({}, lambda i: True),
        ({"screening": "included"}, lambda i: i.screening == "included"),
        ({"needs_review": "1"}, lambda i: i.needs_review),
        ({"needs_recode": "1"}, lambda i: Annotation.objects.filter(item=i, needs_recode=True).exists()),
    ],
)
def test_items_page_walks_every_item_once(client, small_study, items, params, keep, monkeypatch):
    monkeypatch.setattr("labelling.views.items.PAGE_SIZE", 2)
    client.force_login(small_study["viewer"])
    expected = [i.pk for i in StudyItem.objects.filter(study=small_study["study"]).order_by("id") if keep(i)]
    pages, back = _walk_html(client, "/studies/small/items/", params, _ids)
    assert _flat(pages) == expected and back == pages


@pytest.mark.parametrize("params", [{}, {"screening": "pending"}, {"needs_review": "true"}])
def test_items_api_walks_every_item_once(api_client, small_study, items, params):
    api_client.force_authenticate(small_study["owner"])
    items = StudyItem.objects.filter(study=small_study["study"]).order_by("id")
    if "screening" in params:
        items = items.filter(screening=params["screening"])
    if "needs_review" in params:
        items = items.filter(needs_review=True)
    pages, back = _walk_api(api_client, "/api/studies/small/items/", {**params, "page_size": 3})
    assert _flat(pages) == list(items.values_list("id", flat=True)) and back == pages


# --- bad input ---------------------------------------------------------------------------------

BAD_CURSORS = ["not base64 !", "eyJvIjoiaWQifQ", "eyJvIjoiaWQiLCJ2IjpbImFiYyJdfQ", "W10", "x" * 3000]
# (garbage, {"o": "id"} without values, {"o": "id", "v": ["abc"]}, a JSON list, too long)


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("url", ["/api/studies/small/items/", "/api/reports/", "/api/crash-groups/"])
def test_api_bad_cursor_is_a_400_saying_what_to_follow(api_client, small_study, url, cursor):
    api_client.force_authenticate(small_study["owner"])
    response = api_client.get(url, {"cursor": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and "next and previous links" in body["details"]["cursor"][0]


@pytest.mark.parametrize("url", ["/api/studies/small/items/", "/api/reports/", "/api/crash-groups/"])
def test_api_page_numbers_and_bad_page_sizes_are_400s(api_client, small_study, url):
    api_client.force_authenticate(small_study["owner"])
    response = api_client.get(url, {"page": 2})
    assert response.status_code == 400 and "cursor" in response.json()["details"]["page"][0]
    for size in ("0", "201", "ten", "²"):
        assert api_client.get(url, {"page_size": size}).status_code == 400
    assert api_client.get(url, {"page_size": "200"}).status_code == 200


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("url", ["/studies/small/items/", "/reports/", "/reports/crashes/"])
def test_page_bad_cursor_is_a_400_page_with_the_way_back(client, small_study, url, cursor):
    client.force_login(small_study["owner"])
    response = client.get(url, {"cursor": cursor})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Invalid cursor" in page and "Back to the first page" in page


def test_lists_keep_their_access_rules(api_client, client, small_study, items):
    """Keyset pages change nothing about who may read a study's items."""
    outsider = small_study["outsider"]
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/studies/small/items/").status_code in (403, 404)
    client.force_login(outsider)
    assert client.get("/studies/small/items/").status_code in (403, 404)
