"""Request checks that hold for every page and API view."""

from django.http import HttpResponse, JsonResponse

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulCharacters:
    """A NUL character (``%00``) in a query parameter or a form field is a 400 that names it.

    No field of Bugsift can hold NUL and PostgreSQL refuses it in any text, so without this a
    filter such as ``?fuzzer=a%00b`` or a note typed with one would fail in the database (a
    500). Django's form fields refuse NUL already; this covers what views read themselves.
    JSON bodies are checked by config.parsers.JSONParser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _nul_field(request.GET, "query parameter")
        if where is None and request.method == "POST" and request.content_type in FORM_TYPES:
            where = _nul_field(request.POST, "form field")
        if where is not None:
            message = f"The {where} contains a NUL character (%00 / \\u0000), which no field accepts; remove it."
            if request.path.startswith("/api/"):
                return JsonResponse({"message": message, "details": []}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _nul_field(data, kind: str) -> str | None:
    for key, values in data.lists():
        if "\x00" in key:
            return f"name of a {kind} ({key.replace(chr(0), '%00')!r})"
        if any("\x00" in value for value in values):
            return f"{kind} {key!r}"
    return None
