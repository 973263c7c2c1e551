"""The signature a receiver checks: HMAC-SHA256 over `timestamp.body` with the secret.

Headers of every delivery (README "Webhooks"):
    Webhook-Id: the delivery's id, the same on every retry (dedupe on it)
    Webhook-Timestamp: Unix seconds when this attempt was signed
    Webhook-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(
    delivery_id: int, event_type: str, secret: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "OneTask-Webhooks/1",
        "Webhook-Id": str(delivery_id),
        "Webhook-Event": event_type,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": f"t={timestamp},v1={signature(secret, timestamp, body)}",
    }
