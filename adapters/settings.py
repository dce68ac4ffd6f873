"""The one typed configuration; nothing else reads the environment."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "changethis"}


class Settings(BaseSettings):
    """switchlog's configuration, from `SWITCHLOG_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SWITCHLOG_", extra="ignore")

    store_url: str = Field(
        "sqlite:///./var/switchlog.db",
        description="Event store: sqlite:///PATH or postgresql://user:pass@host:port/db",
    )
    read_model_url: str | None = Field(
        None,
        description="Read models' database. Default: beside a SQLite store, its own file"
        " (switchlog.db -> switchlog.read.db), so projecting never holds the store's writer"
        " lock; with PostgreSQL, the store's database",
    )
    var_dir: Path = Field(Path("var"), description="Where local state (JWT secret) is kept")
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 key; generated once into VAR_DIR/jwt-secret when unset"
    )
    jwt_ttl_seconds: int = Field(3600, gt=0)
    secrets_key: SecretStr | None = Field(
        None,
        description="Fernet key (urlsafe base64 of 32 bytes) encrypting secret fields in events;"
        " generated once into VAR_DIR/secrets-key when unset",
    )
    admin_login: str | None = None
    admin_password: SecretStr | None = None
    projections_in_process: bool = Field(
        True, description="Run projections in the API process (embedded default)"
    )
    projection_batch_size: int = Field(500, gt=0)
    max_body_bytes: int = Field(65536, gt=0)
    api_worker_threads: int = Field(
        40, gt=0, le=1000, description="Worker threads running the API's route handlers"
    )
    upload_max_bytes: int = Field(
        50 * 1024 * 1024,
        gt=0,
        description="Largest file a batch upload (POST /v1/cpe/uploads) takes, whatever the"
        " JSON body limit (max_body_bytes)",
    )
    read_your_writes_timeout_seconds: float = Field(
        5.0, ge=0, description="How long a write's answer waits for the read model it shows"
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Prometheus /metrics port for processes other than serve (relay, project,"
        " webhooks deliver); serve answers GET /metrics itself",
    )
    metrics_host: str = Field("127.0.0.1", description="Interface of that metrics port")
    test_clock_file: Path | None = Field(
        None,
        description="Tests only: the processes read the time from this file (ISO 8601) so a"
        " test can move it; the system clock while the file is empty",
    )

    kafka_bootstrap: str | None = Field(
        None, description="Kafka bootstrap servers (host:port,...); turns the relay on"
    )
    kafka_topic: str = "switchlog.events"
    kafka_partitions: int = Field(
        6, gt=0, description="Partitions when the relay creates the topic"
    )
    kafka_group: str = Field("switchlog-projections", description="Projection consumer group")
    relay_in_process: bool = Field(
        True, description="`serve` runs the relay in-process when Kafka is configured"
    )
    relay_batch_size: int = Field(2000, gt=0)
    relay_client: Literal["confluent-kafka", "kafka-python"] = Field(
        "confluent-kafka", description="Kafka client the relay publishes with"
    )

    stream_buffer: int = Field(
        100, gt=0, description="Frames (of up to 50 events) buffered per stream client"
    )
    stream_patience_seconds: float = Field(
        10.0, gt=0, description="How long a full stream buffer may wait for a slow client"
    )
    stream_write_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long one write to a stream client may block before it is dropped"
        " without a goodbye (a client that reads again within it gets its disconnect frame)",
    )
    webhooks_allow_private_networks: bool = Field(
        False, description="Allow webhook URLs on loopback/private networks (tests, local dev)"
    )
    webhook_retry_schedule: tuple[float, ...] = Field(
        (5, 300, 1800, 7200, 18000, 36000, 36000),
        description="Seconds before each retry (Standard Webhooks schedule); then dead-lettered",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    billing_rater_in_process: bool = Field(
        True,
        description="Rate finished legs into xDRs in the API process (serve, like the"
        " projections); turn it off when `switchlog billing rate` runs as its own worker",
    )
    billing_charger_in_process: bool = Field(
        True,
        description="Make subscription charges and credits when due in the API process"
        " (`switchlog billing charge` does it as its own worker)",
    )
    billing_charge_poll_seconds: float = Field(
        30.0, gt=0, description="How often the charger looks for charges that are due"
    )
    billing_charge_settle_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a charging round first waits for the subscriptions read model"
        " to reach the log's head (then it charges anyway: a fee it had not seen is fixed"
        " in a later round)",
    )
    billing_close_grace: float = Field(
        3600.0,
        ge=0,
        description="Seconds after a billing period's end before it closes by itself (and"
        " issues its invoice), once none of its calls is still up",
    )
    billing_tax_percent: Decimal = Field(
        Decimal(0),
        ge=0,
        le=100,
        description="The tax added to invoices, in percent of the subtotal (a decimal string)",
    )
    billing_closer_in_process: bool = Field(
        True, description="`serve` closes due billing periods itself (checked every minute)"
    )
    billing_funds_in_process: bool = Field(
        True,
        description="`serve` records customers running out of funds and getting them back"
        " (no-funds outages); `switchlog billing funds` does it as its own worker",
    )
    webhooks_in_process: bool = Field(True, description="`serve` delivers webhooks itself")

    network: Literal["scripted"] = Field(
        "scripted",
        description="The call network: `scripted` numbers behave as PUT"
        " /v1/network/scripted/{number} says (the SIP adapter comes later)",
    )
    network_workers: int = Field(
        4, gt=0, le=256, description="Threads reporting far-end events (calls keep their order)"
    )
    calls_in_process: bool = Field(
        True, description="The API process sends state callbacks and recovers lost calls"
    )
    call_control_ping_interval_seconds: float = Field(
        20.0, gt=0, description="`serve` sends an RFC 6455 ping to every WebSocket this often"
    )
    call_control_heartbeat_timeout_seconds: float = Field(
        20.0, gt=0, description="A WebSocket whose pong does not come within this is dropped"
    )
    call_control_inactivity_timeout_seconds: float = Field(
        300.0,
        ge=0,
        description="A call-control WebSocket in which the client sent no frame for this long"
        " is closed (0: never); the `ping` method renews it",
    )
    call_callback_retry_schedule: tuple[float, ...] = Field(
        (1, 2, 4, 8), description="Seconds before each retry of a state callback; the last repeats"
    )
    call_callback_give_up_seconds: float = Field(
        60.0,
        gt=0,
        description="A state callback failing this long after its first attempt is"
        " given up, and the call's later states go on",
    )
    call_callback_timeout_seconds: float = Field(5.0, gt=0)

    smtp_host: str | None = Field(
        None, description="SMTP server for credentials emails; unset: no emails are sent"
    )
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = Field("switchlog@localhost", description="Sender of credentials emails")
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    emails_in_process: bool = Field(
        True, description="`serve` sends credentials emails itself when SMTP is configured"
    )
    credentials_retry_schedule: tuple[float, ...] = Field(
        (5, 60, 300, 1800, 3600),
        description="Seconds before each retry of a credentials email; the last one repeats"
        " (an email is never given up)",
    )
    set_password_link_base: str = Field(
        "http://127.0.0.1:8000/set-password",
        description="The page a credentials email links to, given ?token=...; it posts the"
        " token and a new password to /v1/auth/set-password",
    )
    set_password_link_ttl_seconds: int = Field(
        7 * 24 * 3600,
        gt=0,
        description="How long a set-password link works, counted from when access starts",
    )

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDERS or len(raw) < 32:
            raise ValueError("SWITCHLOG_JWT_SECRET must be a random string of 32+ characters")
        return value

    @property
    def effective_read_model_url(self) -> str:
        if self.read_model_url:
            return self.read_model_url
        if self.store_url.startswith("sqlite:"):
            stem, dot, suffix = self.store_url.rpartition(".")
            if dot and "/" not in suffix:
                return f"{stem}.read.{suffix}"
            return f"{self.store_url}.read"
        return self.store_url

    def jwt_key(self) -> str:
        """The configured key, or one generated once and kept in the var dir."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return self._kept("jwt-secret", lambda: secrets.token_urlsafe(48))

    def secrets_key_value(self) -> str:
        """The Fernet key for secret fields: configured, or generated once into the var dir.

        Every process that reads or writes the same store must hold the same key: set
        SWITCHLOG_SECRETS_KEY when they do not share a var dir.
        """
        if self.secrets_key is not None:
            return self.secrets_key.get_secret_value()
        return self._kept("secrets-key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())

    def _kept(self, name: str, generate: Callable[[], str]) -> str:
        path = self.var_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(generate())
        return path.read_text().strip()
