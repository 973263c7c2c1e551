from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from onetask.events.messages import UTCTime
from onetask.webhooks.catalog import known_event_types

DeliveryStatus = Literal["pending", "succeeded", "failed"]
MAX_URL = 2048


def _receiver_url(value: str) -> str:
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("must be printable ASCII without spaces (write host names in punycode)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parsing it raises for a malformed port)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; verify the signature instead")
    return value


def _known_event_types(values: list[str]) -> list[str]:
    known = known_event_types()
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return sorted(set(values))


Url = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL), AfterValidator(_receiver_url)
]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventTypes = Annotated[
    list[EventType], Field(min_length=1, max_length=50), AfterValidator(_known_event_types)
]
Secret = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{16,256}$")]

_URL_DOC = "Where to POST each event: http:// or https://, no credentials, no redirects followed"
_TYPES_DOC = (
    "What to send: `*` (everything), a message type of the workspace channel (`task_update`) "
    "or one of its actions (`task.created`, `task.updated`, …)"
)
_SECRET_DOC = (
    "The HMAC-SHA256 key (16-256 printable ASCII characters); left out, one is generated "
    "and returned once, in this response"
)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description=_URL_DOC)
    event_types: EventTypes = Field(description=_TYPES_DOC)
    secret: Secret | None = Field(default=None, description=_SECRET_DOC)
    enabled: bool = True


class WebhookPatch(BaseModel):
    """Only the fields sent change. Enabling a webhook sends the events from then on."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = Field(default=None, description=_URL_DOC)
    event_types: EventTypes | None = Field(default=None, description=_TYPES_DOC)
    secret: Secret | None = Field(default=None, description="A new HMAC-SHA256 key")
    enabled: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [key for key, value in data.items() if value is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return data


class WebhookOut(BaseModel):
    id: int
    workspace_id: int
    url: str
    event_types: list[str]
    enabled: bool
    secret_hint: str = Field(description="The secret's last four characters")
    created_at: UTCTime
    updated_at: UTCTime
    disabled_at: UTCTime | None
    disabled_reason: str | None = Field(
        description="Why it was disabled: by an admin, or after failing for too long"
    )
    failing_since: UTCTime | None = Field(
        description="When its deliveries started failing (null while they succeed)"
    )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown only here: keep it to verify signatures")


class DeliveryOut(BaseModel):
    id: int = Field(description="The `Webhook-Id` header: the same on every retry")
    webhook_id: int
    event_type: str
    event_seq: int | None = Field(description="The event's seq on the workspace channel")
    status: DeliveryStatus
    attempts: int
    response_status: int | None = Field(description="The receiver's last status code")
    last_error: str | None
    next_attempt_at: UTCTime | None = Field(
        description="When it is tried next (while an attempt is on its way: when another "
        "process may take it over); null once delivered or failed"
    )
    retry_until: UTCTime
    created_at: UTCTime
    last_attempt_at: UTCTime | None
    delivered_at: UTCTime | None


class DeliveryFilters(BaseModel):
    status: DeliveryStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )
