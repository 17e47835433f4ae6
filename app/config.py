"""Process settings, read from the environment with the prefix CRM_."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.encryption import parse_keys

OWASP_ARGON2_MIN_TIME_COST = 2
OWASP_ARGON2_MIN_MEMORY_KIB = 19 * 1024


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", extra="ignore")

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./var/crm.db"
    redis_url: str | None = None
    jwt_secret: str = ""
    # Comma-separated Fernet keys: the first encrypts stored secrets, all decrypt (app/encryption.py).
    secrets_key: str = ""
    jwt_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 24 * 3600)
    # How long a refresh token (POST /auth/refresh) stays usable; each use answers a new one.
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300, le=365 * 24 * 3600)
    # argon2id cost of new password hashes (the defaults are pwdlib's recommendation); production
    # refuses less than OWASP's minimum (19 MiB, 2 passes). Tests lower it: hashing dominated their time.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=32)
    default_timezone: str = "Asia/Shanghai"
    var_dir: Path = Path("var")
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    storage_dir: Path = Path("var/files")
    # Failed sign-ins per (login name, client address), and per client address over all names,
    # within one window; past either, that client waits for the window's end (429).
    login_failure_limit: int = Field(default=10, ge=1)
    login_client_failure_limit: int = Field(default=30, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; without
    # them the socket's peer address is the client, and X-Forwarded-For is ignored.
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = []
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # How long GET /changes keeps its entries; older ones are pruned hourly and a cursor unused
    # this long answers 410 (docs/operations.md, "Incremental sync").
    change_log_retention_days: int = Field(default=30, ge=1, le=3650)
    # The most rows a list answers as CSV or XLSX (Accept); more answers 422 export.too_many_rows.
    export_max_rows: int = Field(default=10_000, ge=1, le=100_000)
    # The most rows an export job (POST /exports) writes into one file.
    export_job_max_rows: int = Field(default=1_000_000, ge=1, le=10_000_000)
    db_pool_size: int = Field(default=10, ge=1)
    # A pooled PostgreSQL connection idle for longer is checked alive before use (app/db.py).
    db_ping_after_idle_seconds: float = Field(default=5.0, ge=0)
    # Seconds an idle arq worker waits between polls of the queue: the floor of a job's start delay.
    worker_poll_delay: float = Field(default=0.1, gt=0, le=5)
    # Lets webhooks point at private and loopback addresses (a test receiver, an intranet ERP); the
    # WeCom and DingTalk base URLs below pass the same check.
    webhook_allow_private: bool = False
    # Where WeCom and DingTalk are called: a private WeCom deployment (私有化部署) or a test's fake server.
    wecom_base_url: str = "https://qyapi.weixin.qq.com"
    dingtalk_base_url: str = "https://oapi.dingtalk.com"
    log_json: bool = True
    log_level: str = "INFO"
    # Browser origins (the manager's SPA, the WeCom H5 app) allowed to call the API, exactly as the
    # browser sends them: comma-separated `https://host[:port]`; none by default.
    cors_origins: Annotated[list[str], NoDecode] = []
    # /docs, /redoc and /openapi.json: on by default, off by default in production.
    public_docs: bool | None = None
    # /metrics asks for `Authorization: Bearer <token>` when set; in production it is off without one.
    metrics_token: str | None = None

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or origin != f"{parts.scheme}://{parts.netloc}"
            ):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com (no path, no *)")
        return origins

    @model_validator(mode="after")
    def _require_secret_in_production(self) -> Settings:
        if self.env is Environment.production and len(self.jwt_secret) < 32:
            raise ValueError("CRM_JWT_SECRET of at least 32 characters is required when CRM_ENV=production")
        keys = parse_keys(self.secrets_key)
        if self.env is Environment.production and not keys:
            # A key generated on one machine would leave the others unable to read the secrets.
            raise ValueError("CRM_SECRETS_KEY is required when CRM_ENV=production")
        if self.env is Environment.production and (
            self.password_hash_time_cost < OWASP_ARGON2_MIN_TIME_COST
            or self.password_hash_memory_kib < OWASP_ARGON2_MIN_MEMORY_KIB
        ):
            raise ValueError(
                "CRM_PASSWORD_HASH_TIME_COST >= 2 and CRM_PASSWORD_HASH_MEMORY_KIB >= 19456 "
                "are required when CRM_ENV=production"
            )
        return self

    @property
    def serves_docs(self) -> bool:
        return self.public_docs if self.public_docs is not None else self.env is not Environment.production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or one generated once into var/ for development machines."""
        if self.jwt_secret:
            return self.jwt_secret
        secret_file = self.var_dir / "jwt_secret"
        if secret_file.exists():
            return secret_file.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        secret_file.write_text(secret)
        secret_file.chmod(0o600)
        return secret

    def resolved_secrets_keys(self) -> list[str]:
        """The configured keys, or one generated once into var/ for development machines."""
        if keys := parse_keys(self.secrets_key):
            return keys
        key_file = self.var_dir / "secrets_key"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Exclusive: the API and a worker starting together must not write two different keys.
            with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(Fernet.generate_key().decode())
        except FileExistsError:
            pass
        return parse_keys(key_file.read_text())


@lru_cache
def get_settings() -> Settings:
    return Settings()
