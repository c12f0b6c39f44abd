"""The API's JSON parser: DRF's, with two refusals that would otherwise be 500s.

* JSON nested too deeply (RecursionError in the decoder) is a 400 ParseError.
* A NUL character (``\\u0000``) in any string or key is a 400 naming where it is: PostgreSQL
  cannot store it in text or jsonb, and no field of the API can hold it.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from config.jsontext import TOO_DEEP, nul_paths


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {TOO_DEEP}.") from None
        found = nul_paths(data)
        if found:
            raise ParseError(
                f"The JSON holds a NUL character (\\u0000) at {', '.join(found)}; text cannot contain NUL. "
                "Remove it (or encode binary data, e.g. as base64)."
            )
        return data
