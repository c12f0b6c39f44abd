import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from tests.fakes.crash_traces import crash_report
from triage.models import CrashGroup, CrashOccurrence, FuzzerAccount


def test_import_jsonl_creates_the_account_and_groups(db, write_file, capsys):
    path = write_file("crashes.jsonl", [crash_report("torch_conv2d_weight", v) for v in range(4)])
    call_command("import_crashes", str(path), "--fuzzer-account", "freefuzz")
    out = capsys.readouterr()
    assert "4 stored" in out.out and "1 new crash groups" in out.out
    assert "reports" in out.err  # the tqdm bar
    account = FuzzerAccount.objects.get(name="freefuzz")
    assert CrashOccurrence.objects.filter(account=account).count() == 4
    assert CrashGroup.objects.get().occurrence_count == 4
    call_command("import_crashes", str(path), "--fuzzer-account", "freefuzz")
    assert "0 stored, 4 already known" in capsys.readouterr().out
    assert FuzzerAccount.objects.count() == 1


def test_import_folder_of_json_files(db, tmp_path, capsys):
    folder = tmp_path / "crashes"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(crash_report("mxnet_convolution_shape", 0)))
    (folder / "b.json").write_text(json.dumps([crash_report("mxnet_convolution_shape", v) for v in (1, 2)]))
    call_command("import_crashes", str(folder))
    assert "3 stored" in capsys.readouterr().out
    assert CrashOccurrence.objects.filter(account=None).count() == 3


def test_bad_file_stores_nothing_and_names_each_problem(db, write_file, capsys):
    reports = [crash_report("jax_conv_dimension", v) for v in range(3)]
    reports[1]["oracle"] = "kaboom"
    path = write_file("crashes.jsonl", "".join(json.dumps(r) + "\n" for r in reports) + "{oops\n")
    with pytest.raises(CommandError, match="nothing was stored"):
        call_command("import_crashes", str(path))
    err = capsys.readouterr().err
    assert "line 2: field 'oracle'" in err and "line 4: Not valid JSON" in err
    assert not CrashOccurrence.objects.exists()
    call_command("import_crashes", str(path), "--partial")
    assert CrashOccurrence.objects.count() == 2


def test_missing_path(db):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_crashes", "/nonexistent/crashes.jsonl")


def test_create_fuzzer_account_prints_a_working_token(db, capsys, api_client):
    call_command("create_fuzzer_account", "deeprel")
    token = capsys.readouterr().out.strip()
    assert Token.objects.get(key=token).user.fuzzer_account.name == "deeprel"
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api_client.post(
        "/api/crashes/", data=json.dumps(crash_report("jax_conv_dimension", 0)), content_type="application/json"
    )
    assert response.status_code == 201
    call_command("create_fuzzer_account", "deeprel")
    assert capsys.readouterr().out.strip() == token
