from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from onetask.inputs import StorableText

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{3,32}$")]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
    StorableText,
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128), StorableText]
FullName = Annotated[str, StringConstraints(max_length=200), StorableText]
_ZONES = available_timezones() | {"UTC"}


def _known_timezone(value: str) -> str:
    if value not in _ZONES:
        raise ValueError("unknown IANA time zone")
    return value


TimeZone = Annotated[str, AfterValidator(_known_timezone)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    username: Username
    password: Password
    full_name: FullName | None = None
    timezone: TimeZone = "UTC"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    username: str
    full_name: str | None
    timezone: str
    created_at: datetime


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    timezone: TimeZone | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token, in seconds")


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
