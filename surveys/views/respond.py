"""The public pages behind a survey link: consent, then one page per section, then thanks.

No account and no JavaScript needed: every page is a plain form (radio buttons, checkboxes,
number and text fields), so it works on a phone and with the keyboard only. Answers are saved
at every step; the same link brings the respondent back to them. A question whose condition
looks at an earlier section is left out when it does not hold; one whose condition looks at the
same section is shown with a hint, and its answer is dropped when the condition does not hold
(``surveys.answers``). Nothing about the respondent (account, IP, user agent) is stored.
"""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.errors import ApplicationError
from surveys.answers import condition_holds, missing_required
from surveys.selectors import link_for_token, response_of, stored_answers, survey_accepts_answers
from surveys.services import response_answer
from surveys.validation import questions_of


def _message(request, title: str, message: str, status: int = 200, survey=None):
    return render(
        request, "surveys/respond_message.html", {"title": title, "message": message, "survey": survey}, status=status
    )


def _problem(request, exc: ApplicationError, survey=None):
    titles = {404: "This link does not work", 409: "This survey cannot take answers"}
    return _message(request, titles.get(exc.status, "Something is wrong"), exc.message, exc.status, survey)


def _visible_sections(definition: dict, answers: dict) -> list[int]:
    """Indexes of the sections with at least one question shown, judged by earlier sections' answers."""
    shown = []
    for index, section in enumerate(definition["sections"]):
        earlier = {c: v for c, v in answers.items() if c not in {q["code"] for q in section["questions"]}}
        if any(_shown(q, earlier, section) for q in section["questions"]):
            shown.append(index)
    return shown


def _same_section(q: dict, section: dict) -> bool:
    condition = q.get("condition")
    return bool(condition) and condition["question"] in {x["code"] for x in section["questions"]}


def _shown(q: dict, answers: dict, section: dict) -> bool:
    return _same_section(q, section) or condition_holds(q, answers)


def _link_state(request, token):
    """(link, its response or None, None), or (None, None, the page that says why it cannot be answered)."""
    try:
        link = link_for_token(token=token)
    except ApplicationError as exc:
        return None, None, _problem(request, exc)
    response = response_of(link)
    if response is not None and response.status == response.Status.SUBMITTED:
        thanks = "Your answers were submitted. Each link answers once."
        return None, None, _message(request, "Thank you", thanks, survey=link.survey)
    closed = survey_accepts_answers(link.survey)
    if closed:
        return None, None, _message(request, "This survey is closed", closed, 409, link.survey)
    return link, response, None


@never_cache
@require_http_methods(["GET", "POST"])
def respond(request, survey_token):
    """The consent page (first visit), or back to the first section (a saved response)."""
    link, response, refusal = _link_state(request, survey_token)
    if refusal is not None:
        return refusal
    survey = link.survey
    if response is not None:
        return redirect("surveys:respond-section", survey_token=survey_token, number=1)
    definition = survey.current_version.definition
    if request.method == "POST":
        if request.POST.get("consent") == "no":
            return _message(
                request,
                "You declined",
                "Nothing was stored. Thank you for your time; you can close this page.",
                survey=survey,
            )
        if request.POST.get("consent") != "yes":
            return render(
                request,
                "surveys/respond_consent.html",
                {"survey": survey, "definition": definition, "error": "Choose whether you take part."},
                status=400,
            )
        try:
            done = response_answer(token=survey_token, consent=True, answers={}, submit=False)
        except ApplicationError as exc:
            return _problem(request, exc, survey)
        return redirect("surveys:respond-section", survey_token=done.token or survey_token, number=1)
    return render(request, "surveys/respond_consent.html", {"survey": survey, "definition": definition})


def _parse(q: dict, post, prefix: str):
    """The answer to ``q`` from the form, in the API's shape (None when left empty)."""
    name = f"{prefix}{q['code']}"
    kind = q["kind"]
    if kind == "multi":
        return post.getlist(name) or None
    if kind == "matrix":
        out = {}
        for row in q["rows"]:
            raw = post.get(f"{name}:{row['code']}", "").strip()
            if raw:
                out[row["code"]] = _number(raw)
        return out or None
    raw = post.get(name, "")
    if kind == "text":
        return raw if raw.strip() else None
    raw = raw.strip()
    if not raw:
        return None
    return _number(raw) if kind in ("likert", "number") else raw


def _number(raw: str):
    try:
        value = float(raw.replace(",", ".")) if raw.count(",") == 1 and "." not in raw else float(raw)
    except ValueError:
        return raw  # refused with "give a number"
    return int(value) if value.is_integer() else value


def _question_view(q: dict, value, error: str | None, section: dict) -> dict:
    view = {"q": q, "value": value, "error": error, "name": f"q:{q['code']}"}
    if _same_section(q, section):
        c = q["condition"]
        view["hint"] = f"Answer only if you answered “{c['equals']}” above."
    if q["kind"] in ("likert", "matrix"):
        view["points"] = list(range(q["min"], q["max"] + 1))
    if q["kind"] == "matrix":
        value = value if isinstance(value, dict) else {}
        view["rows"] = [{**r, "value": value.get(r["code"]), "name": f"q:{q['code']}:{r['code']}"} for r in q["rows"]]
    if q["kind"] == "multi":
        view["picked"] = value if isinstance(value, list) else []
    return view


@never_cache
@require_http_methods(["GET", "POST"])
def respond_section(request, survey_token, number):
    link, response, refusal = _link_state(request, survey_token)
    if refusal is not None:
        return refusal
    survey = link.survey
    if response is None:  # the open link, or no consent yet
        return redirect("surveys:respond", survey_token=survey_token)
    definition = response.version.definition
    sections = definition["sections"]
    if not 1 <= number <= len(sections):
        return redirect("surveys:respond-section", survey_token=survey_token, number=1)
    index = number - 1
    section = sections[index]
    answers = stored_answers(response)
    errors: dict[str, str] = {}
    top_errors: list[dict] = []
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "next")
        given = {q["code"]: _parse(q, request.POST, "q:") for q in section["questions"]}
        submit = action == "submit"
        try:
            response_answer(token=survey_token, consent=None, answers=given, submit=submit, strict=False)
        except ApplicationError as exc:
            status = exc.status
            if exc.status != 400:
                return _problem(request, exc, survey)
            here = {q["code"] for q in section["questions"]}
            for d in exc.details:
                if d.get("question") in here:
                    errors[d["question"]] = d["message"]
                else:
                    top_errors.append(d)
            answers = {**answers, **{c: v for c, v in given.items() if v is not None}}
        else:
            if submit:
                return _message(
                    request, "Thank you", "Your answers are submitted. You can close this page.", survey=survey
                )
            answers = stored_answers(response)
            visible = _visible_sections(definition, answers)
            if action == "save":
                url = request.build_absolute_uri(reverse("surveys:respond", args=[survey_token]))
                return render(request, "surveys/respond_saved.html", {"survey": survey, "url": url})
            later = [i for i in visible if i > index] if action == "next" else [i for i in visible if i < index][-1:]
            if later:
                target = later[0] if action == "next" else later[-1]
                return redirect("surveys:respond-section", survey_token=survey_token, number=target + 1)
    visible = _visible_sections(definition, answers)
    if index not in visible and request.method == "GET":
        following = [i for i in visible if i > index] or visible[-1:]
        if following and following[0] != index:
            return redirect("surveys:respond-section", survey_token=survey_token, number=following[0] + 1)
    earlier = {c: v for c, v in answers.items() if c not in {q["code"] for q in section["questions"]}}
    questions = [
        _question_view(q, answers.get(q["code"]), errors.get(q["code"]), section)
        for q in section["questions"]
        if _shown(q, earlier, section)
    ]
    position = visible.index(index) + 1 if index in visible else 1
    later_visible = [i for i in visible if i > index]
    all_questions = questions_of(definition)
    missing = missing_required(questions=all_questions, answers=answers) if not later_visible else []
    by_section = {q["code"]: q["section"] + 1 for q in all_questions}
    return render(
        request,
        "surveys/respond_section.html",
        {
            "survey": survey,
            "definition": definition,
            "section": section,
            "number": number,
            "position": position,
            "total": len(visible),
            "questions": questions,
            "is_last": not later_visible,
            "has_previous": any(i < index for i in visible),
            "top_errors": [{**d, "section": by_section.get(d.get("question"))} for d in top_errors],
            "missing_elsewhere": [
                {"code": q["code"], "text": q["text"], "section": q["section"] + 1}
                for q in missing
                if q["section"] != index
            ],
            "token": survey_token,
        },
        status=status,
    )
