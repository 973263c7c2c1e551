from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from onetask.sync.kinds import KINDS

KIND_NAMES = ", ".join(f"`{kind.name}`" for kind in KINDS)


class SyncItem(BaseModel):
    kind: str = Field(description=f"One of {KIND_NAMES}")
    id: int = Field(description="The entity's id (a member's is their user id)")
    workspace_id: int
    deleted: bool = Field(
        description="A tombstone: drop the entity (a `workspace` tombstone: the whole "
        "workspace, which you left or lost, or which was deleted)"
    )
    data: dict[str, Any] | None = Field(
        description="The entity as it is now, shaped as its REST representation "
        "(task: TaskOut; member and workspace: as in the workspaceUpdate message); "
        "null on a tombstone"
    )


class SyncPage(BaseModel):
    items: list[SyncItem]
    resets: list[int] = Field(
        description="Workspaces whose full snapshot starts on this page: replace your copy "
        "of each (drop it, then apply the items of this and the following pages)"
    )
    cursor: str = Field(description="Pass as `cursor` next time, even when has_more is false")
    has_more: bool = Field(description="More changes are waiting: call again with `cursor` now")


class SyncQuery(BaseModel):
    cursor: Annotated[str, StringConstraints(max_length=20000)] | None = Field(
        default=None, description="From the previous answer; none on the first sync"
    )
    limit: int = Field(default=200, ge=1, le=1000, description="At most this many items")
