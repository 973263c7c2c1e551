from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from onetask.events.messages import UTCTime
from onetask.inputs import AwareDatetime, StorableText

Scope = Literal["read", "write"]
TokenName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), StorableText
]


class ApiTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=2,
        description="`read`: every GET and the sockets; `write`: also POST/PATCH/DELETE "
        "(implies read)",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the token stops working; null: never"
    )


class ApiTokenOut(BaseModel):
    id: int
    name: str
    scopes: list[Scope]
    created_at: UTCTime
    expires_at: UTCTime | None
    last_used_at: UTCTime | None = Field(
        description="The last request made with it (to the minute); null: never used"
    )


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(
        description="The secret, shown this once: send it as `Authorization: Bearer` "
        "or `?token=` on the sockets"
    )
