"""Settings from a TOML file plus HUB_* environment variables (which win)."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.errors import HubError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(HubError):
    """A setting is unknown or malformed; the message names it."""


@dataclass
class Settings:
    """Every setting of hub-server, with its default."""

    listen: str = "127.0.0.1:50051"
    data_dir: str = "var"
    database_url: str = ""  # default: sqlite:///<data_dir>/hub.db
    database_wait_seconds: float = 30.0
    master_key: str = ""
    master_key_file: str = ""  # default: <data_dir>/master.key
    log_level: str = "INFO"
    log_format: str = "text"
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    resolvers: list[str] = field(default_factory=list)
    authoritative_port: int = 53
    embedded_dns_listen: str = ""
    embedded_dns_zones: list[str] = field(default_factory=list)
    propagation_timeout: float = 120.0
    propagation_first_interval: float = 0.05
    # Polls back off to this; a server that never answers costs one poll per
    # this many seconds per waiting operation.
    propagation_max_interval: float = 5.0
    sweep_interval: float = 60.0
    record_max_age: float = 3600.0
    auth_failure_max_delay: float = 2.0
    # Gateways (the REST bridge) whose x-forwarded-for splits failure counts
    # per client; from anyone else the header is ignored.
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    workers: int = 16

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'hub.db'}"

    @property
    def effective_master_key_file(self) -> Path:
        return Path(self.master_key_file or Path(self.data_dir) / "master.key")

    @property
    def admin_credentials_file(self) -> Path:
        return Path(self.data_dir) / "admin-credentials.json"


_SECRET_SETTINGS = {"master_key"}


def _convert(name: str, raw: Any, kind: Any) -> Any:
    """Turn a TOML value or an environment string into the setting's type."""
    if kind is list[str] or kind == "list[str]":
        if isinstance(raw, str):
            return [item for item in raw.replace(",", " ").split() if item]
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return raw
        raise ConfigError(f"setting {name}: expected a list of strings")
    if kind in (int, "int"):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name}: expected an integer") from None
    if kind in (float, "float"):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name}: expected a number") from None
        if value < 0:
            raise ConfigError(f"setting {name}: must not be negative")
        return value
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name}: expected a string")
    return raw


def load_settings(
    config_file: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (if any), then HUB_* variables over it.

    Raises:
        ConfigError: the file cannot be parsed, or a setting is unknown or bad.
    """
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get("HUB_CONFIG") or None
    fields = {f.name: f.type for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    if config_file:
        try:
            with open(config_file, "rb") as handle:
                document = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
        for name, raw in document.items():
            if name not in fields:
                raise ConfigError(
                    f"config file {config_file}: unknown setting {name!r}"
                )
            values[name] = _convert(name, raw, fields[name])
    for key, raw in environ.items():
        if not key.startswith("HUB_") or key in _CLIENT_VARIABLES:
            continue
        name = key[4:].lower()
        if name == "config":
            continue
        if name not in fields:
            raise ConfigError(f"environment {key}: unknown setting")
        values[name] = _convert(f"{name} ({key})", raw, fields[name])
    settings = Settings(**values)
    check_settings(settings)
    return settings


# Variables hubctl and the bridge read; the server ignores them.
_CLIENT_VARIABLES = {
    "HUB_ADDRESS",
    "HUB_CLIENT_ID",
    "HUB_CLIENT_SECRET",
    "HUB_PROFILE",
    "HUB_TLS",
    "HUB_CA_FILE",
    "HUB_CERT_FILE",
    "HUB_KEY_FILE",
    "HUB_BRIDGE_LISTEN",
    "HUB_BRIDGE_TLS_CERT",
    "HUB_BRIDGE_TLS_KEY",
    "HUB_BRIDGE_MAX_BODY",
}


def check_settings(settings: Settings) -> None:
    """Refuse values that cannot work, naming the setting."""
    if settings.log_format not in ("text", "json"):
        raise ConfigError("setting log_format: must be 'text' or 'json'")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("setting log_level: must be DEBUG, INFO, WARNING or ERROR")
    if ":" not in settings.listen:
        raise ConfigError("setting listen: expected HOST:PORT")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("setting tls_cert/tls_key: give both or neither")
    if settings.tls_client_ca and not settings.tls_cert:
        raise ConfigError("setting tls_client_ca: needs tls_cert and tls_key")
    if not 0 < settings.authoritative_port < 65536:
        raise ConfigError("setting authoritative_port: must be 1-65535")
    if settings.workers < 2:
        raise ConfigError("setting workers: must be at least 2")
    if settings.propagation_timeout <= 0:
        raise ConfigError("setting propagation_timeout: must be positive")
    if not 0 < settings.propagation_first_interval <= settings.propagation_max_interval:
        raise ConfigError(
            "setting propagation_first_interval: must be positive and at most "
            "propagation_max_interval"
        )
