"""Registration, login, token rotation and profile rules."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.auth import repository
from onetask.auth.passwords import hash_password, verify_password
from onetask.auth.ratelimit import BudgetSpent, Charge, LoginCounter, WriteCounter
from onetask.auth.schemas import RegisterIn, TokenPair, UserPatch
from onetask.auth.tokens import issue_access_token, new_refresh_token, refresh_token_digest
from onetask.config import Settings
from onetask.db import uow
from onetask.db.models import RefreshToken, User
from onetask.db.types import utcnow
from onetask.errors import Conflict, InvalidInput, TooManyRequests, Unauthorized
from onetask.inputs import storable


class RefreshTokenReused(Unauthorized):
    """Raised after the family was revoked: the caller commits, then reports it."""


class AccountGone(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Access token rejected: the account no longer exists.")


async def signed_in_user(session: AsyncSession, user_id: int) -> User:
    """The user a valid access token names; 401 if the account was deleted since."""
    user = await repository.get_user(session, user_id)
    if user is None:
        raise AccountGone()
    return user


@dataclass(frozen=True, slots=True)
class LoginLimits:
    counter: LoginCounter
    failures_per_account: int
    failures_per_address: int
    per_account: int  # every login, successful or not
    per_address: int


@dataclass(frozen=True, slots=True)
class WriteLimit:
    counter: WriteCounter
    per_minute: int


async def charge_write(limit: WriteLimit, user_id: int) -> None:
    retry_after = await limit.counter.spend(f"user:{user_id}", limit.per_minute)
    if retry_after is not None:
        raise TooManyRequests(
            f"Too many changes: at most {limit.per_minute} a minute per user; try again later.",
            retry_after,
        )


async def register(session: AsyncSession, data: RegisterIn) -> User:
    taken = await repository.login_taken(session, data.email, data.username)
    if taken:
        raise Conflict(f"An account with this {taken} already exists.")
    await uow.release(session)  # not held while the password is hashed
    user = User(
        email=data.email,
        username=data.username,
        full_name=data.full_name,
        timezone=data.timezone,
        password_hash=await hash_password(data.password),
    )
    added = await repository.add_user(session, user)
    if added is None:
        raise Conflict("An account with this email or username already exists.")
    return added


async def login(
    session: AsyncSession,
    settings: Settings,
    limits: LoginLimits,
    *,
    login: str,
    password: str,
    address: str,
) -> TokenPair:
    well_formed = storable(login) and storable(password)
    user = await repository.find_user_by_login(session, login) if well_formed else None
    await uow.release(session)  # not held while the password is checked
    account = _account_key(user, login)
    failures = [f"failures:{account}", f"failures:address:{address}"]
    charges = [
        Charge(f"logins:{account}", limits.per_account),
        Charge(f"logins:address:{address}", limits.per_address),
        Charge(failures[0], limits.failures_per_account),
        Charge(failures[1], limits.failures_per_address),
    ]
    try:
        # Counted as a failure before the check, refunded on success: concurrent guesses
        # cannot all be checked before any of them has counted.
        attempt = await limits.counter.reserve(charges)
    except BudgetSpent as spent:
        what = "failed logins" if spent.key.startswith("failures:") else "logins"
        raise TooManyRequests(f"Too many {what}; try again later.", spent.retry_after_s) from None
    password_ok = well_formed and await verify_password(
        user.password_hash if user else None, password
    )
    if not password_ok or not user:
        raise Unauthorized("Incorrect username or password.")
    await limits.counter.refund(failures, attempt)
    return await _issue_pair(session, settings, user.id, family_id=secrets.token_hex(16))


def _account_key(user: User | None, login: str) -> str:
    # One budget per account, whether it is addressed by username or by email.
    if user is not None:
        return f"account:user:{user.id}"
    digest = hashlib.sha256(login.lower().encode(errors="surrogatepass")).hexdigest()
    return f"account:login:{digest}"


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    stored = await repository.find_refresh_token(session, refresh_token_digest(token))
    now = utcnow()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise Unauthorized("The refresh token is invalid or expired.")
    if stored.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole family.
        await repository.revoke_family(session, stored.family_id, now)
        raise RefreshTokenReused(
            "The refresh token was already used; every session of it is now revoked."
        )
    stored.used_at = now
    return await _issue_pair(session, settings, stored.user_id, family_id=stored.family_id)


async def purge_dead_refresh_tokens(session: AsyncSession) -> int:
    """Delete the rows of every family that can no longer be used: each of its tokens is
    revoked or expired. A family with one live token keeps all its rows, so a rotated
    token that comes back is still recognised and ends the family."""
    return await repository.delete_dead_refresh_token_families(session, utcnow())


async def logout(session: AsyncSession, token: str) -> None:
    stored = await repository.find_refresh_token(session, refresh_token_digest(token))
    if stored is not None:
        await repository.revoke_family(session, stored.family_id, utcnow())


async def update_profile(session: AsyncSession, user: User, patch: UserPatch) -> User:
    changes = patch.model_dump(exclude_unset=True)
    if "timezone" in changes and changes["timezone"] is None:
        raise InvalidInput("timezone cannot be null; send an IANA time zone such as UTC.")
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    return user


async def _issue_pair(
    session: AsyncSession, settings: Settings, user_id: int, *, family_id: str
) -> TokenPair:
    token = new_refresh_token()
    added = await repository.add_refresh_token(
        session,
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=refresh_token_digest(token),
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_s),
        ),
    )
    if not added:  # the account was deleted while its password was being checked
        raise Unauthorized("The account no longer exists.")
    access = issue_access_token(user_id, settings.signing_key, settings.access_token_ttl_s)
    return TokenPair(
        access_token=access, refresh_token=token, expires_in=settings.access_token_ttl_s
    )
