import io
import json

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory
from tests.fakes.crash_traces import crash_report
from triage.crashes.intake import MAX_REPORT_BYTES
from triage.models import CrashGroup, CrashOccurrence, FuzzerAccount

URL = "/api/crashes/"


@pytest.fixture
def fuzzer(db, api_client):
    user = UserFactory(username="titanfuzz-bot")
    FuzzerAccount.objects.create(user=user, name="titanfuzz")
    token = Token.objects.create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api_client


def _post(client, data, query=""):
    return client.post(URL + query, data=json.dumps(data), content_type="application/json")


def test_one_report_is_stored_and_grouped(fuzzer):
    response = _post(fuzzer, crash_report("torch_conv2d_weight", 0))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created"] == 1 and body["groups_created"] == 1
    group = CrashGroup.objects.get()
    assert body["stored"][0]["group"] == group.id
    assert CrashOccurrence.objects.get().account.name == "titanfuzz"


def test_batch_groups_and_resend_is_idempotent(fuzzer):
    batch = [crash_report(bug, v) for bug in ("tf_resize_check_failed", "jax_conv_dimension") for v in range(4)]
    first = _post(fuzzer, batch)
    assert first.status_code == 201 and first.json()["created"] == 8
    again = _post(fuzzer, batch)
    assert again.status_code == 200
    assert again.json()["created"] == 0 and again.json()["duplicates"] == 8
    assert sorted(CrashGroup.objects.values_list("occurrence_count", flat=True)) == [4, 4]


def test_bad_batch_is_400_with_every_problem_and_stores_nothing(fuzzer):
    batch = [crash_report("mxnet_convolution_shape", v) for v in range(3)]
    batch[0]["oracle"] = "kaboom"
    batch[2]["created_at"] = "soon"
    del batch[2]["client_id"]
    response = _post(fuzzer, batch)
    assert response.status_code == 400
    details = response.json()["details"]
    assert {(d["index"], d["field"]) for d in details} == {(0, "oracle"), (2, "created_at"), (2, "client_id")}
    assert all(d["message"] for d in details)
    assert not CrashOccurrence.objects.exists()


def test_partial_mode_stores_valid_and_lists_refused(fuzzer):
    batch = [crash_report("mxnet_convolution_shape", v) for v in range(3)]
    batch[1]["oracle"] = "kaboom"
    response = _post(fuzzer, batch, "?partial=1")
    assert response.status_code == 201
    body = response.json()
    assert [s["index"] for s in body["stored"]] == [0, 2]
    assert body["refused"][0]["index"] == 1 and body["refused"][0]["problems"][0]["field"] == "oracle"
    assert CrashOccurrence.objects.count() == 2


def test_not_json_and_too_many_are_400(fuzzer):
    response = fuzzer.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]
    response = _post(fuzzer, [crash_report("jax_conv_dimension", 0)] * 1001)
    assert response.status_code == 400 and "1000" in response.json()["message"]


def test_oversized_report_is_413_with_the_limit(fuzzer):
    big = crash_report("torch_conv2d_weight", 0, reproducer="x" * (MAX_REPORT_BYTES + 10))
    response = _post(fuzzer, big)
    assert response.status_code == 413
    assert "5 MB" in response.json()["message"]
    # one huge report among small ones: under 5 MB x 3 overall, but that report alone is over
    small = [crash_report("jax_conv_dimension", v) for v in range(2)]
    response = _post(fuzzer, [*small, {**big, "client_id": "big"}])
    assert response.status_code == 413 and "Report 2" in response.json()["message"]
    assert not CrashOccurrence.objects.exists()


def test_non_fuzzer_is_403_with_how_to_and_anonymous_is_401(db, api_client):
    response = _post(api_client, crash_report("jax_conv_dimension", 0))
    assert response.status_code == 401
    user = UserFactory()
    api_client.force_authenticate(user)
    response = _post(api_client, crash_report("jax_conv_dimension", 0))
    assert response.status_code == 403
    assert "create_fuzzer_account" in response.json()["message"]


def test_crash_group_list_and_detail(fuzzer, api_client):
    _post(fuzzer, [crash_report("asan_gather_overflow", v) for v in range(3)] + [crash_report("jax_conv_dimension", 0)])
    reader = UserFactory()
    api_client.credentials()
    api_client.force_authenticate(reader)
    response = api_client.get("/api/crash-groups/?sort=count")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [g["occurrence_count"] for g in results] == [3, 1]
    assert len(api_client.get("/api/crash-groups/?framework=jax").json()["results"]) == 1
    assert len(api_client.get("/api/crash-groups/?version=2.13.0").json()["results"]) == 1
    assert len(api_client.get("/api/crash-groups/?fuzzer=nobody").json()["results"]) == 0
    detail = api_client.get(f"/api/crash-groups/{results[0]['id']}/").json()
    assert detail["signatures"][0]["n"] == 3 and detail["smallest_reproducer"]
    api_client.force_authenticate(None)
    assert api_client.get("/api/crash-groups/").status_code == 401


# ---- the body is parsed one report at a time (config.jsontext.iter_values) -------------------


def test_streamed_batch_keeps_json_types_of_extra(fuzzer):
    extra = {"seed": 7, "lr": 0.001, "big": 10**30, "flags": [True, None, "x"], "nested": {"a": [1.5, {"b": -2}]}}
    response = _post(fuzzer, [crash_report("torch_conv2d_weight", 0, extra=extra)])
    assert response.status_code == 201, response.json()
    assert CrashOccurrence.objects.get().extra == extra


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[",
        b'[{"client_id": "a"}] trailing',
        b'[{"client_id": "a"},]',
        b'{"client_id": "\xff"}',
    ],
)
def test_bad_json_anywhere_in_the_stream_is_a_400_and_stores_nothing(fuzzer, body):
    good = json.dumps(crash_report("jax_conv_dimension", 0)).encode()
    response = fuzzer.post(URL, data=body.replace(b'{"client_id": "a"}', good), content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]
    assert not CrashOccurrence.objects.exists()


def test_a_deeply_nested_report_after_good_ones_is_a_400_and_stores_nothing(fuzzer):
    good = json.dumps(crash_report("jax_conv_dimension", 0))
    deep = '{"client_id": "d", "extra": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    response = fuzzer.post(URL, data=f"[{good}, {deep}]", content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]
    assert not CrashOccurrence.objects.exists()


def test_nesting_under_the_limit_is_accepted():
    from config.jsontext import MAX_DEPTH, iter_values

    nested = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    (value,) = list(iter_values(io.BytesIO(f"[{nested}]".encode())))
    assert value == json.loads(nested)
    assert list(iter_values(io.BytesIO(b'{"a": 1}'))) == [{"a": 1}]
    assert list(iter_values(io.BytesIO(b'[1, 2.5, "x"]'))) == [1, 2.5, "x"]


def test_an_integer_over_64_bits_is_read_without_repeating_or_losing_values():
    from config.jsontext import iter_values

    body = b'[1, {"a": [2.5, "x"]}, {"seed": 18446744073709551616}, 4]'  # 2**64: too big for ijson's C parser
    assert list(iter_values(io.BytesIO(body))) == [1, {"a": [2.5, "x"]}, {"seed": 2**64}, 4]
