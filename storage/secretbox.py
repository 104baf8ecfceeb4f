"""Encryption of stored secrets under the hub's master key (Fernet)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from storage.errors import SecretKeyError


class SecretBox:
    """Encrypts and decrypts small dictionaries of secret strings."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "master key: must be 32 bytes of url-safe base64 (44 characters)"
            ) from exc

    def encrypt(self, values: dict[str, str]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        try:
            data = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise SecretKeyError(
                "master key: does not decrypt the stored secrets (wrong key?)"
            ) from exc
        values: dict[str, str] = json.loads(data)
        return values


def load_master_key(env_value: str | None, key_file: Path, *, create: bool) -> bytes:
    """The master key from the environment, else from ``key_file``.

    With ``create``, a missing key file is made with a new key and mode 0600.

    Raises:
        SecretKeyError: no key is available, or the key file is open to others.
    """
    if env_value:
        return env_value.strip().encode()
    if key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretKeyError(
                f"master key file {key_file}: mode {mode:o} lets others read it; "
                "chmod 600 it"
            )
        return key_file.read_bytes().strip()
    if not create:
        raise SecretKeyError(
            f"master key: set HUB_MASTER_KEY or run 'hub-server init' to create "
            f"{key_file}"
        )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key
