from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from onetask.auth.schemas import Email, Username
from onetask.inputs import StorableText

Role = Literal["owner", "admin", "member"]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), StorableText
]
Description = Annotated[str, StringConstraints(max_length=5000), StorableText]


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class WorkspacePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None


class WorkspaceOut(BaseModel):
    id: int
    name: str
    description: str | None
    owner_id: int
    created_at: datetime
    updated_at: datetime
    role: Role


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username | None = None
    email: Email | None = None
    role: Role = "member"

    @model_validator(mode="after")
    def _one_identifier(self) -> MemberIn:
        if bool(self.username) == bool(self.email):
            raise ValueError("give exactly one of username or email")
        return self


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberOut(BaseModel):
    user_id: int
    username: str
    full_name: str | None
    role: Role
    joined_at: datetime
