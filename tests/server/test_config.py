"""``hub-server serve`` refuses bad settings with one line that names the setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub_server.config import ConfigError, load_settings
from tests.servers.hub import HubServer
from tests.servers.ports import free_port

HUB_SERVER = str(Path(sys.executable).parent / "hub-server")


def _serve(
    workdir: Path, env: Mapping[str, str], config: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``hub-server serve`` in ``workdir``; a bad setting ends it at once."""
    command = [HUB_SERVER]
    if config is not None:
        (workdir / "hub.toml").write_text(config)
        command += ["--config", "hub.toml"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(
        [*command, "serve"],
        cwd=workdir,
        env={
            **base,
            "HUB_DATA_DIR": str(workdir / "var"),
            "HUB_LISTEN": f"127.0.0.1:{free_port()}",
            "HUB_MASTER_KEY": Fernet.generate_key().decode(),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


CASES = [
    pytest.param(
        "listen = \n", {}, ["config file hub.toml", "line 1"], id="malformed-toml"
    ),
    pytest.param(
        'colour = "blue"\n', {}, ["unknown setting 'colour'"], id="unknown-in-file"
    ),
    pytest.param(
        'workers = "many"\n', {}, ["setting workers", "integer"], id="wrong-type"
    ),
    pytest.param(
        None, {"HUB_COLOUR": "blue"}, ["HUB_COLOUR: unknown setting"], id="unknown-env"
    ),
    pytest.param(
        None, {"HUB_WORKERS": "lots"}, ["HUB_WORKERS", "integer"], id="env-not-number"
    ),
    pytest.param(
        None, {"HUB_LOG_FORMAT": "xml"}, ["setting log_format"], id="log-format"
    ),
    pytest.param(
        None,
        {"HUB_DATABASE_URL": "mysql://hub@db/hub"},
        ["database_url", "'mysql' is not supported"],
        id="db-mysql",
    ),
    pytest.param(
        None,
        {"HUB_DATABASE_URL": "sqlite://host/hub.db"},
        ["database_url", "no host"],
        id="db-sqlite-host",
    ),
    pytest.param(
        None,
        {"HUB_DATABASE_URL": "postgresql://hub@127.0.0.1/"},
        ["database_url", "names no database"],
        id="db-postgresql-no-name",
    ),
    pytest.param(
        '# database in the file this time\ndatabase_url = "oracle://x/y"\n',
        {},
        ["database_url", "'oracle'"],
        id="db-url-from-file",
    ),
    pytest.param(
        None, {"HUB_MASTER_KEY": ""}, ["HUB_MASTER_KEY", "hub-server init"], id="no-key"
    ),
    pytest.param(
        None, {"HUB_MASTER_KEY": "short"}, ["master key", "44 characters"], id="bad-key"
    ),
]


@pytest.mark.parametrize(("config", "env", "expected"), CASES)
def test_a_bad_setting_is_one_line(
    tmp_path: Path, config: str | None, env: dict[str, str], expected: list[str]
) -> None:
    result = _serve(tmp_path, env, config)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hub-server: ")
    for text in expected:
        assert text in lines[0]


def test_an_unreachable_postgresql_is_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://hub:pa55word@127.0.0.1:{free_port()}/hub"

    result = _serve(
        tmp_path, {"HUB_DATABASE_URL": url, "HUB_DATABASE_WAIT_SECONDS": "1"}
    )

    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"hub-server: database_url: cannot connect to "
        f"{url.replace(':pa55word@', ':***@')}"
    ]


@pytest.fixture
def taken_address() -> Iterator[str]:
    """A loopback TCP address some other program already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_a_taken_listen_address_is_named(tmp_path: Path, taken_address: str) -> None:
    result = _serve(tmp_path, {"HUB_LISTEN": taken_address})

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # gRPC's core library writes its own line before the hub's.
    assert result.stderr.splitlines()[-1] == (
        f"hub-server: setting listen: cannot listen on {taken_address} "
        "(address in use, or not an address of this host)"
    )


def test_a_second_hub_cannot_share_a_running_hubs_address(
    tmp_path: Path, hub: HubServer
) -> None:
    result = _serve(tmp_path, {"HUB_LISTEN": hub.address})

    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        f"hub-server: setting listen: cannot listen on {hub.address} "
        "(address in use, or not an address of this host)"
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"HUB_LISTEN": "50051"}, "setting listen", id="listen-no-port"),
        pytest.param(
            {"HUB_TLS_CERT": "cert.pem"}, "tls_cert/tls_key", id="cert-without-key"
        ),
        pytest.param({"HUB_WORKERS": "1"}, "setting workers", id="one-worker"),
        pytest.param(
            {"HUB_PROPAGATION_TIMEOUT": "-1"},
            "setting propagation_timeout (HUB_PROPAGATION_TIMEOUT): must not",
            id="negative-timeout",
        ),
        pytest.param(
            {
                "HUB_PROPAGATION_FIRST_INTERVAL": "3",
                "HUB_PROPAGATION_MAX_INTERVAL": "1",
            },
            "setting propagation_first_interval",
            id="first-interval-above-max",
        ),
        pytest.param(
            {"HUB_PROPAGATION_FIRST_INTERVAL": "0"},
            "setting propagation_first_interval",
            id="zero-first-interval",
        ),
    ],
)
def test_settings_refused_when_loaded(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)

    assert expected in str(caught.value)


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('listen = "127.0.0.1:7000"\nworkers = 4\nresolvers = ["a:53"]\n')

    settings = load_settings(
        str(config), {"HUB_WORKERS": "8", "HUB_RESOLVERS": "b:53, c:53"}
    )

    assert settings.listen == "127.0.0.1:7000"
    assert settings.workers == 8
    assert settings.resolvers == ["b:53", "c:53"]


def test_client_variables_are_left_to_the_clients() -> None:
    settings = load_settings(
        None,
        {
            "HUB_ADDRESS": "127.0.0.1:1",
            "HUB_CLIENT_ID": "cid",
            "HUB_CLIENT_SECRET": "s3cret",
            "HUB_BRIDGE_LISTEN": "127.0.0.1:8080",
        },
    )

    assert settings.listen == "127.0.0.1:50051"
