import json

import pytest

from config.errors import ApplicationError
from labelling import codebook_templates
from labelling.codebook_templates import list_templates, load_template, template_problems

SHIPPED = ["dl-framework-bugs", "silent-bugs"]


def _fixture_template(**overrides):
    data = {
        "slug": "tiny",
        "name": "Tiny codebook",
        "description": "For tests.",
        "source": "Someone et al., 2024.",
        "dimensions": [
            {
                "code": "symptom",
                "name": "Symptom",
                "kind": "single",
                "description": "",
                "required": True,
                "max_choices": None,
                "categories": [
                    {
                        "code": "crash",
                        "name": "Crash",
                        "definition": "d",
                        "example": "e",
                        "shortcut": "1",
                        "children": [{"code": "segfault", "name": "Segfault", "shortcut": "s", "children": []}],
                    },
                    {"code": "hang", "name": "Hang", "shortcut": "2", "children": []},
                ],
            },
            {"code": "notes", "name": "Notes", "kind": "text", "categories": []},
        ],
    }
    data.update(overrides)
    return data


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(codebook_templates, "TEMPLATES_DIR", tmp_path)
    (tmp_path / "tiny.json").write_text(json.dumps(_fixture_template()), encoding="utf-8")
    return tmp_path


def test_list_templates_reads_every_json_file_in_the_folder(template_dir):
    (template_dir / "other.json").write_text(json.dumps(_fixture_template(slug="other", name="Other")))
    listed = list_templates()
    assert [t["slug"] for t in listed] == ["other", "tiny"]
    assert listed[1] == {
        "slug": "tiny",
        "name": "Tiny codebook",
        "description": "For tests.",
        "source": "Someone et al., 2024.",
    }


def test_load_template_returns_the_whole_template_as_a_private_copy(template_dir):
    data = load_template("tiny")
    assert [d["code"] for d in data["dimensions"]] == ["symptom", "notes"]
    data["dimensions"].clear()
    assert len(load_template("tiny")["dimensions"]) == 2


def test_unknown_template_names_the_valid_ones(template_dir):
    with pytest.raises(ApplicationError) as err:
        load_template("nope")
    assert "tiny" in err.value.message and "nope" in err.value.message


def test_template_slug_cannot_escape_the_folder(template_dir):
    with pytest.raises(ApplicationError):
        load_template("../tiny")


@pytest.mark.parametrize("slug", SHIPPED)
def test_shipped_templates_are_listed_with_name_and_source(slug):
    listed = {t["slug"]: t for t in list_templates()}
    assert slug in listed
    assert listed[slug]["name"] and listed[slug]["source"]


@pytest.mark.parametrize("slug", SHIPPED)
def test_shipped_templates_pass_the_codebook_rules(slug):
    data = load_template(slug)
    assert data["dimensions"]
    assert template_problems(data) == []


def test_template_problems_finds_what_the_services_would_refuse():
    bad = _fixture_template()
    dims = bad["dimensions"]
    dims[0]["categories"][1]["shortcut"] = "1"  # clashes with crash
    dims[0]["categories"][0]["children"][0]["children"] = [{"code": "deep", "name": "Deep"}]
    dims[1]["categories"] = [{"code": "x", "name": "X"}]  # text dimension with a category
    dims.append({"code": "Bad Code", "name": "Bad", "kind": "weird", "categories": [{"code": "a", "shortcut": "?"}]})
    problems = " | ".join(template_problems(bad))
    assert "shortcut '1' is used twice" in problems
    assert "nests a second level" in problems
    assert "free-text dimension has no categories" in problems
    assert "code 'Bad Code' is not valid" in problems
    assert "kind 'weird'" in problems
    assert "shortcut '?'" in problems
    assert template_problems(_fixture_template()) == []
