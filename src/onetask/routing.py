"""The route class of every REST operation: requests it cannot read are 422 problem+json
that say what to send, instead of being ignored or answered in the framework's terms.

- A query parameter the operation does not declare (`?prority=high`) is rejected, naming
  the ones it accepts: a silently ignored typo returns the wrong data.
- A body in the wrong format (a form on a JSON operation, JSON on the login form),
  malformed JSON (with its line and column) and a body that is not UTF-8 are each
  explained in a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from onetask import idempotency
from onetask.auth.deps import get_token_claims
from onetask.errors import InvalidInput, OneTaskError, input_error

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# An operation that answers with a secret sets this in its `openapi_extra`, with the
# reason: its answer is never stored, so it takes no Idempotency-Key.
NO_IDEMPOTENCY = "x-no-idempotency-key"
_NAMED_AT_MOST = 5  # unknown parameters named in one answer
_NAME_CHARS = 64  # of each, echoed back


class ApiRoute(APIRoute):
    """The `route_class` of every REST router."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        accepted = tuple(dict.fromkeys(_query_names(self.dependant)))
        body = self.body_field.field_info if self.body_field is not None else None
        takes_form = isinstance(body, Form)
        takes_json = body is not None and not takes_form
        form_example = _form_example(body.annotation) if takes_form and body else ""
        refuse_key = self._refuses_idempotency_key()

        async def checked(request: Request) -> Response:
            if request.scope["query_string"]:
                _reject_unknown_query(request, accepted)
            if takes_json:
                await _require_json(request)
            elif takes_form:
                await _require_form(request, form_example)
            pending = None
            if request.scope["method"] in WRITE_METHODS:
                pending = await idempotency.begin(request, refuse=refuse_key)
            try:
                response = await handler(request)
            except idempotency.Replay as replay:
                return replay.response
            except (RequestValidationError, HTTPException) as exc:
                problem = _unparsable_body(exc)
                if problem is None:
                    raise
                raise problem from exc
            except OneTaskError:
                # Refused, maybe because a concurrent request with the same key did it.
                replayed = pending and await idempotency.replay_concurrent(
                    pending, request.app.state.database
                )
                if replayed:
                    return replayed
                raise
            if pending is None:
                return response
            return await idempotency.finish(request, pending, response, request.app.state.database)

        return checked

    def _refuses_idempotency_key(self) -> str | None:
        if not WRITE_METHODS & set(self.methods or ()):
            return None
        reason: str | None = (self.openapi_extra or {}).get(NO_IDEMPOTENCY)
        if reason is not None:
            return reason
        if not _calls(self.dependant, get_token_claims):
            return "keys belong to a signed-in user, and this operation signs nobody in."
        return None


def _calls(dependant: Dependant, call: Any) -> bool:
    return dependant.call is call or any(_calls(d, call) for d in dependant.dependencies)


def _query_names(dependant: Dependant) -> Iterator[str]:
    """The query parameters an operation declares, its dependencies' included, with a
    parameter model (`Annotated[TaskFilters, Query()]`) counted as its fields."""
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            yield from (f.alias or name for name, f in model.model_fields.items())
        else:
            yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def _reject_unknown_query(request: Request, accepted: tuple[str, ...]) -> None:
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in accepted]
    if not unknown:
        return
    named = [name[:_NAME_CHARS] for name in unknown[:_NAMED_AT_MOST]]
    allowed = f"it accepts {', '.join(accepted)}" if accepted else "it takes no query parameters"
    s = "s" if len(unknown) > 1 else ""
    raise InvalidInput(
        f"Unknown query parameter{s} {', '.join(named)}: {allowed}.",
        errors=[
            input_error(["query", name], f"Unknown query parameter; {allowed}.", "extra_forbidden")
            for name in named
        ],
    )


def _media_type(request: Request) -> str:
    header = request.headers.get("content-type")
    if header is None or header == "application/json":  # the usual case, unparsed
        return header or ""
    message = Message()  # parses parameters (`; charset=utf-8`) as FastAPI does
    message["content-type"] = header
    return message.get_content_type()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def _require_json(request: Request) -> None:
    media_type = _media_type(request)
    if _is_json(media_type) or not await request.body():
        return
    sent = f"content-type {media_type}" if media_type else "no content-type"
    raise _body_error(
        f"Send the body as JSON with content-type application/json (this request had {sent}).",
        "content_type",
    )


async def _require_form(request: Request, example: str) -> None:
    media_type = _media_type(request)
    if media_type in FORM_TYPES or not await request.body():
        return
    sent = f"content-type {media_type}" if media_type else "no content-type"
    raise _body_error(
        f"Send the body as a form, {example}, with content-type "
        f"application/x-www-form-urlencoded (this request had {sent}).",
        "content_type",
    )


def _form_example(model: Any) -> str:
    """`username=…&password=…`: the form's required fields, to show what to send."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "its fields"
    required = [f.alias or name for name, f in model.model_fields.items() if f.is_required()]
    return "&".join(f"{name}=…" for name in required) or "its fields"


def _unparsable_body(exc: RequestValidationError | HTTPException) -> InvalidInput | None:
    if isinstance(exc, RequestValidationError):
        return _malformed_json(exc)
    return _undecodable_body(exc)


def _malformed_json(exc: RequestValidationError) -> InvalidInput | None:
    """FastAPI reports malformed JSON as `body.14: JSON decode error`; say where, in
    lines and columns, and what the parser expected."""
    errors = exc.errors()
    if len(errors) != 1 or errors[0]["type"] != "json_invalid" or not isinstance(exc.body, str):
        return None
    position = errors[0]["loc"][-1] if isinstance(errors[0]["loc"][-1], int) else 0
    line = exc.body.count("\n", 0, position) + 1
    column = position - exc.body.rfind("\n", 0, position)
    reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
    return _body_error(f"Malformed JSON at line {line} column {column}: {reason}.", "json_invalid")


def _undecodable_body(exc: HTTPException) -> InvalidInput | None:
    """FastAPI answers a body that `json.loads` fails on other than by a syntax error
    with an undocumented 400; these are input errors like any other."""
    cause = exc.__cause__
    if exc.status_code != 400:
        return None
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1].hex()
        return _body_error(
            f"The body is not valid UTF-8 (byte 0x{byte} at offset {cause.start}); "
            "send JSON encoded as UTF-8.",
            "json_invalid",
        )
    if isinstance(cause, RecursionError):
        return _body_error("The JSON is nested too deeply.", "json_invalid")
    return None


def _body_error(message: str, type: str) -> InvalidInput:
    return InvalidInput(message, errors=[input_error(["body"], message, type)])
