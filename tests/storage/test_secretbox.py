"""The secret box and the master key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage.errors import SecretKeyError
from storage.secretbox import SecretBox, load_master_key

SECRETS = {"tsig_secret": "c2VjcmV0LXRzaWcta2V5", "api_key": "pdns-key-1"}


def test_round_trip() -> None:
    box = SecretBox(Fernet.generate_key())

    sealed = box.encrypt(SECRETS)

    assert "pdns-key-1" not in sealed
    assert box.decrypt(sealed) == SECRETS


def test_nothing_to_keep_is_stored_as_empty() -> None:
    box = SecretBox(Fernet.generate_key())

    assert box.encrypt({}) == ""
    assert box.decrypt("") == {}


def test_a_wrong_key_is_refused_without_showing_the_secret() -> None:
    sealed = SecretBox(Fernet.generate_key()).encrypt(SECRETS)

    with pytest.raises(SecretKeyError) as caught:
        SecretBox(Fernet.generate_key()).decrypt(sealed)

    assert "wrong key" in str(caught.value)
    assert "pdns-key-1" not in str(caught.value)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"short", id="short"),
        pytest.param(b"!" * 44, id="not-base64"),
    ],
)
def test_a_malformed_key_is_refused(key: bytes) -> None:
    with pytest.raises(SecretKeyError) as caught:
        SecretBox(key)

    assert "master key: must be 32 bytes" in str(caught.value)


def test_the_key_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "master.key"

    key = load_master_key(None, key_file, create=True)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_master_key(None, key_file, create=False) == key
    assert SecretBox(key).decrypt(SecretBox(key).encrypt(SECRETS)) == SECRETS


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    load_master_key(None, key_file, create=True)
    from_env = Fernet.generate_key().decode()

    assert load_master_key(f" {from_env}\n", key_file, create=True) == (
        from_env.encode()
    )


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    load_master_key(None, key_file, create=True)
    key_file.chmod(0o640)

    with pytest.raises(SecretKeyError) as caught:
        load_master_key(None, key_file, create=False)

    assert "mode 640" in str(caught.value)


def test_a_missing_key_is_not_invented_when_asked_not_to(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"

    with pytest.raises(SecretKeyError) as caught:
        load_master_key(None, key_file, create=False)

    assert "HUB_MASTER_KEY" in str(caught.value)
    assert not key_file.exists()
