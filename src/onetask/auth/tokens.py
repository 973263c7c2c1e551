"""Short-lived JWT access tokens and opaque, rotated refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


ALL_SCOPES = frozenset({"read", "write"})


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    expires_at: float
    # Set when the bearer is a personal API token (its id and scopes); a password login's
    # access token has every scope.
    api_token_id: int | None = None
    scopes: frozenset[str] = ALL_SCOPES
    touch: bool = False  # the API token's last-use time is due to be written


def issue_access_token(user_id: int, key: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_s, "typ": "access"}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


# Tokens whose signature and claims have been checked, with what they claim. The same
# token under the same key passes those checks the same way every time, except for its
# expiry, which is checked on each use. Checking a signature and claims with PyJWT is 4 %
# of a task change; a client sends the same token for many requests.
_VERIFIED: dict[tuple[str, str], AccessClaims] = {}
VERIFIED_MAX = 4096


def decode_access_token(token: str, key: str) -> AccessClaims:
    claims = _VERIFIED.get((key, token))
    if claims is None:
        claims = _verify(token, key)
        if len(_VERIFIED) >= VERIFIED_MAX:
            del _VERIFIED[next(iter(_VERIFIED))]  # the oldest entry
        _VERIFIED[(key, token)] = claims
    if claims.expires_at <= time.time():  # as PyJWT: expired at `exp` itself
        raise InvalidToken("the token has expired")
    return claims


def _verify(token: str, key: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "iat"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the token is invalid") from exc
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise InvalidToken("the token is not an access token")
    return AccessClaims(user_id=int(claims["sub"]), expires_at=float(claims["exp"]))


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
