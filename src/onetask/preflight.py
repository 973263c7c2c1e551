"""Before serving: is the database and the broker there at all?

A service that is not listening would otherwise surface as a driver's traceback from deep
inside the application's start-up (or, with several workers, one per worker). Checked
once, before anything starts, it is one line naming the address and the setting."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from onetask.config import Settings, without_password

CONNECT_TIMEOUT_S = 3.0


class Unreachable(Exception):
    """The database or the broker does not answer; the message says which and where."""


def check_reachable(settings: Settings, *, broker: bool = True) -> None:
    """Raise `Unreachable` unless the database (and the broker) accept a connection."""
    targets = []
    if not settings.is_sqlite:
        targets.append(("PostgreSQL", "ONETASK_DATABASE_URL", settings.resolved_database_url, 5432))
    if broker and not settings.uses_memory_broker:
        targets.append(("Redis", "ONETASK_BROKER_URL", settings.broker_url, 6379))
    for name, setting, url, default_port in targets:
        problem = _unreachable(urlsplit(url).hostname, _port(url, default_port))
        if problem is not None:
            address, reason = problem
            raise Unreachable(
                f"cannot reach {name} at {address} ({setting}={without_password(url)}): "
                f"{reason}. Start {name} there, or set {setting} to where it runs."
            )


def _port(url: str, default: int) -> int:
    try:
        return urlsplit(url).port or default
    except ValueError:  # not a number: the driver will say so
        return default


def _unreachable(host: str | None, port: int) -> tuple[str, str] | None:
    # No host (a Unix socket, the driver's default) or several: the driver decides.
    if not host or host.startswith("/") or "," in host:
        return None
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except socket.gaierror:
        return address, f"no such host {host!r}"
    except TimeoutError:
        return address, f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return address, (exc.strerror or str(exc)).lower()
