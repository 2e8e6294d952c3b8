"""The errors a use case raises (pure: no web framework); shared/http.py maps them to HTTP answers, once.

Handlers say what went wrong in the domain's words (`Invalid`, `NotFound`, `Conflict`, `Forbidden`); routes
never catch them. The answers keep the documented shape: field-level errors as
`{"detail": [{field, in, message, type}], "code": "invalid_input"}`, everything else as
`{"detail": "<message>", "code": "<code>"}` (a conflict adds `current_state` and `allowed_actions` when it knows
them). `message`/`detail` is for people, in Chinese; `code` (and each field's `type`) is for programs and
stable: a class's default (`not_found`, `forbidden`, `conflict`, `invalid_input`) or a more precise one given
where the refusal is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _said(detail: Any) -> str:
    """What `str()` of a refusal reads: its message, or its fields' messages (a page shows them to a person)."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(e, Mapping) and "message" in e for e in detail):
        return "；".join(str(e["message"]) for e in detail)
    return repr(detail)


class Problem(Exception):
    """A 4xx decided by a use case. `status` is the HTTP status; `detail` what the documented shape carries."""

    status = 400
    code = "refused"

    def __init__(self, detail: Any, *, code: str | None = None) -> None:
        super().__init__(_said(detail))
        self.detail = detail
        if code is not None:
            self.code = code

    def content(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code}

    def headers(self) -> dict[str, str] | None:
        return None


class Invalid(Problem):
    """Bad input: one field (`Invalid("scope_unit", "…")`) or several at once (`Invalid.of([...])`)."""

    status = 422
    code = "invalid_input"

    def __init__(self, field: str, message: str, *, type: str = "value_error", where: str = "body",  # noqa: A002
                 status: int | None = None) -> None:
        super().__init__([{"field": field, "in": where, "message": message, "type": type}])
        if status is not None:
            self.status = status

    @classmethod
    def of(cls, errors: Iterable[Mapping[str, Any]], *, status: int | None = None) -> Invalid:
        """Several field-level errors (dicts with at least field, in, message, type) answered together."""
        problem = cls.__new__(cls)
        Problem.__init__(problem, [dict(e) for e in errors])
        if status is not None:
            problem.status = status
        return problem


class NotFound(Problem):
    """Nothing there, or nothing the caller may know is there (another town's record is 404 too)."""

    status = 404
    code = "not_found"


class Forbidden(Problem):
    status = 403
    code = "forbidden"


class Conflict(Problem):
    """Refused in the current state; `allowed` names what may be done instead, when known."""

    status = 409
    code = "conflict"

    def __init__(self, detail: str, *, current_state: str | None = None,
                 allowed: Iterable[str] | None = None, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.current_state, self.allowed = current_state, list(allowed) if allowed is not None else None

    def content(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.current_state is not None:
            body["current_state"] = self.current_state
        if self.allowed is not None:
            body["allowed_actions"] = self.allowed
        return body


class Unavailable(Problem):
    """Cannot be done yet (a dependency is not ready): the caller should retry after `retry_after` seconds."""

    status = 503
    code = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}
