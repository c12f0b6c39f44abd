"""The one application error type that services raise besides Django's ValidationError."""


class ApplicationError(Exception):
    """A request that cannot be carried out, with a message a person can act on.

    ``status`` is the HTTP status the API answers with; ``details`` carries structured
    problems (e.g. a list of ``{"line": 12, "field": "dimension", "message": ...}``).
    """

    def __init__(self, message: str, *, status: int = 400, details=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or []
