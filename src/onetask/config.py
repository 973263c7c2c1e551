"""Settings: every knob is an ONETASK_* environment variable, validated at start."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from onetask import files


class ConfigError(Exception):
    """A setting that makes start-up impossible; the message says how to fix it."""


# What a user may write, and what OneTask's drivers need it to be.
_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def normalized_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting providers write them) are PostgreSQL
    through asyncpg, `sqlite://` is SQLite through aiosqlite; other drivers are refused."""
    scheme, separator, rest = url.partition("://")
    driver = _DRIVERS.get(scheme.lower())
    if not separator or driver is None:
        raise ConfigError(
            f"ONETASK_DATABASE_URL={without_password(url)!r} is not a database OneTask can "
            "use: write postgresql://user:password@host:5432/db (PostgreSQL, through asyncpg) "
            "or sqlite+aiosqlite:////absolute/path/onetask.db."
        )
    return f"{driver}://{rest}"


def without_password(url: str) -> str:
    """`url` with its password, if any, replaced by `***`: fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETASK_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path(".onetask")
    database_url: str | None = None
    # PostgreSQL connections per process, opened as needed and then kept (no overflow).
    database_pool_size: int = Field(default=20, ge=1, le=1000)
    # Embedded mode: how long a write waits for another process's lock on the SQLite
    # file before it gets 503, and how large the WAL may stay before it is truncated.
    sqlite_busy_timeout_s: float = Field(default=5.0, gt=0, le=300)
    sqlite_wal_max_mb: int = Field(default=64, ge=1)
    broker_url: str = "memory://"
    broker_namespace: str = Field(default="onetask", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    secret_key: str | None = Field(default=None, repr=False)

    access_token_ttl_s: int = Field(default=900, ge=10)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    login_max_failures_per_account: int = Field(default=10, ge=1)
    # Far above the account's: it stops one address guessing across many accounts, and
    # must not lock everyone out when many people share an address.
    login_max_failures_per_address: int = Field(default=500, ge=1)
    logins_per_account: int = Field(default=30, ge=1)
    logins_per_address: int = Field(default=300, ge=1)
    login_window_s: int = Field(default=300, ge=1)
    refresh_token_purge_interval_s: float = Field(default=3600.0, gt=0)
    writes_per_minute: int = Field(default=600, ge=1)
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated IPs or networks, or "*"); unset: the headers are ignored.
    forwarded_allow_ips: str | None = None

    event_retention_s: int = Field(default=7 * 24 * 3600, ge=1)
    head_check_interval_s: float = Field(default=1.0, gt=0)
    relay_sweep_interval_s: float = Field(default=2.0, gt=0)

    ws_heartbeat_s: float = Field(default=20.0, gt=0)
    ws_idle_timeout_s: float = Field(default=300.0, gt=0)
    ws_queue_size: int = Field(default=1024, ge=1)
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=256)
    ws_messages_per_second: float = Field(default=20.0, gt=0)
    ws_message_burst: int = Field(default=60, ge=1)
    ws_max_connections_per_user: int = Field(default=50, ge=1)
    allowed_origins: str = "*"
    cors_origins: str = ""

    presence_grace_s: float = Field(default=5.0, ge=0)
    # Longest time between a process's polls for timed work (focus phase boundaries and
    # every other kind); the old name of the setting is still read.
    scheduler_interval_s: float = Field(
        default=1.0,
        gt=0,
        validation_alias=AliasChoices(
            "scheduler_interval_s", "ONETASK_SCHEDULER_INTERVAL_S", "ONETASK_FOCUS_TICK_INTERVAL_S"
        ),
    )
    # Seconds in a focus "minute": 60 in production; tests shorten phases with it.
    focus_minute_s: float = Field(default=60.0, gt=0)

    auto_migrate: bool = True
    # Fault injection for the crash tests only: the process SIGKILLs itself right after
    # committing a change that emits events, before anything is published.
    fault_crash_after_commit: bool = False
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Longest a request (line, headers, body) or a WebSocket handshake may take to arrive.
    request_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "info"

    @field_validator("database_url")
    @classmethod
    def _asyncpg_or_aiosqlite(cls, url: str | None) -> str | None:
        return normalized_database_url(url) if url else None

    @model_validator(mode="after")
    def _scaled_mode_needs_a_secret(self) -> Settings:
        if self.is_scaled and not self.secret_key:
            raise ConfigError(
                "ONETASK_SECRET_KEY is required when ONETASK_DATABASE_URL points at a shared "
                "database: every process must sign tokens with the same secret. Set it to a "
                "random string of at least 32 characters (e.g. `openssl rand -hex 32`)."
            )
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ConfigError("ONETASK_SECRET_KEY must be at least 32 characters long.")
        if not (self.broker_url.startswith("memory://") or self.broker_url.startswith("redis")):
            raise ConfigError(
                f"ONETASK_BROKER_URL must be memory:// or redis://…, not {self.broker_url!r}."
            )
        return self

    @property
    def is_scaled(self) -> bool:
        return self.database_url is not None and not self.database_url.startswith("sqlite")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def sqlite_wal_max_bytes(self) -> int:
        return self.sqlite_wal_max_mb * 2**20

    @property
    def uses_memory_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'onetask.db').resolve()}"

    def describe(self) -> str:
        """Mode, database, broker and data directory, for the start-up log."""
        return (
            f"{'scaled' if self.is_scaled else 'embedded'} mode; "
            f"database {without_password(self.resolved_database_url)}; "
            f"broker {without_password(self.broker_url)}; "
            f"data directory {self.data_dir.resolve()}"
        )

    @cached_property
    def signing_key(self) -> str:
        """The configured secret, or one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        files.ensure_private_dir(self.data_dir)
        if path.exists():
            files.tighten(path)
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        files.write_private(path, key)
        return key

    @property
    def origin_allow_list(self) -> list[str] | None:
        """None means any origin (tokens travel in the URL, not in cookies)."""
        origins = [o.strip() for o in self.allowed_origins.split(",") if o.strip()]
        return None if "*" in origins or not origins else origins

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
