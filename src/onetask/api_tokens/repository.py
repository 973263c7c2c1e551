"""All SQL of personal API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import ApiToken

_BY_HASH = select(ApiToken).where(ApiToken.token_hash == bindparam("digest"))


async def add(session: AsyncSession, token: ApiToken) -> ApiToken:
    session.add(token)
    await session.flush()
    return token


async def by_hash(session: AsyncSession, digest: str) -> ApiToken | None:
    return (await session.execute(_BY_HASH, {"digest": digest})).scalar_one_or_none()


async def for_user(session: AsyncSession, user_id: int) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list((await session.execute(query)).scalars())


async def remove(session: AsyncSession, user_id: int, token_id: int) -> bool:
    result = await session.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(session: AsyncSession, token_id: int, at: datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))
