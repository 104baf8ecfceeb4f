"""hubctl's answers that need no hub: bad usage, bad profiles, no hub, completion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_hubctl
from tests.servers.ports import free_port

# Nothing listens here; usage errors must be reported before any call is made.
NOWHERE = {"HUB_ADDRESS": "127.0.0.1:9"}

USAGE_CASES = [
    pytest.param(
        ["principal", "add", "--title", "x"], "Missing option '--type'", id="missing"
    ),
    pytest.param(
        ["principal", "add", "--type", "robot", "--title", "x"],
        "'robot' is not one of",
        id="bad-choice",
    ),
    pytest.param(["principal", "update", "p-1"], "nothing to change", id="no-change"),
    pytest.param(["principal", "show"], "Missing argument 'ID'", id="no-id"),
    pytest.param(["nosuch"], "No such command 'nosuch'", id="unknown-command"),
    pytest.param(
        ["token", "create", "--principal", "p", "--title", "t", "--expires", "soon"],
        "neither a duration like 90d",
        id="bad-expiry",
    ),
    pytest.param(
        ["token", "create", "--principal", "p", "--title", "t"]
        + ["--expires", "2030-01-01T00:00:00"],
        "RFC 3339 time",
        id="expiry-without-offset",
    ),
    pytest.param(
        ["token", "update", "t-1", "--expires", "1d", "--no-expiry"],
        "not both",
        id="expiry-conflict",
    ),
    pytest.param(
        ["credential", "add", "--provider", "rfc2136", "--title", "t"]
        + ["--param", "server"],
        "'server' is not KEY=VALUE",
        id="param-without-value",
    ),
    pytest.param(
        ["challenge", "add", "--title", "t", "--credential", "c", "--match", "x"]
        + ["--option", "colour=blue"],
        "unknown key 'colour'; known keys: ttl, propagation_timeout",
        id="unknown-option",
    ),
    pytest.param(
        ["challenge", "add", "--title", "t", "--credential", "c", "--match", "x"]
        + ["--option", "ttl=soon"],
        "ttl takes a whole number of seconds",
        id="option-not-a-number",
    ),
    pytest.param(
        ["challenge", "update", "mc-1", "--option", "follow_cname=maybe"],
        "follow_cname takes true or false",
        id="option-not-a-bool",
    ),
    pytest.param(
        ["records", "list", "--state", "done"], "'done' is not one of", id="bad-state"
    ),
    pytest.param(
        ["credential", "update", "sc-1", "--secret", "tsig_secret=x"],
        "visible to other users",
        id="inline-secret-on-update",
    ),
    pytest.param(
        ["audit", "list", "--since", "yesterday"],
        "neither a duration like 1h",
        id="bad-since",
    ),
    pytest.param(["completion", "fish"], "'fish' is not one of", id="bad-shell"),
    pytest.param(
        ["--cert-file", "c.pem", "whoami"],
        "needs both --cert-file and --key-file",
        id="half-a-client-cert",
    ),
]


@pytest.mark.parametrize(("args", "message"), USAGE_CASES)
def test_bad_usage_prints_usage_and_exits_2(args: list[str], message: str) -> None:
    result = run_hubctl(*args, env=NOWHERE)

    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_a_secret_on_the_command_line_is_refused_and_not_repeated() -> None:
    result = run_hubctl(
        "credential", "add", "--provider", "rfc2136", "--title", "t",
        "--secret", "tsig_secret=hunter2",
        env=NOWHERE,
    )  # fmt: skip

    assert result.code == 2
    assert "visible to other users" in result.stderr
    assert "--secret tsig_secret=@FILE" in result.stderr
    assert "hunter2" not in result.stderr


def _profile(tmp_path: Path, mode: int, content: object) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    path.chmod(mode)
    return path


PROFILE_CASES = [
    pytest.param(0o644, {"address": "x:1"}, "run: chmod 600", id="world-readable"),
    pytest.param(0o640, {"address": "x:1"}, "(mode 0640)", id="group-readable"),
    pytest.param(0o600, "{not json", "is not valid JSON", id="not-json"),
    pytest.param(0o600, ["x"], "must hold a JSON object", id="not-an-object"),
    pytest.param(0o600, {"adress": "x:1"}, "unknown keys adress", id="typo"),
]


@pytest.mark.parametrize(("mode", "content", "message"), PROFILE_CASES)
def test_a_bad_profile_is_refused(
    tmp_path: Path, mode: int, content: object, message: str
) -> None:
    path = _profile(tmp_path, mode, content)

    result = run_hubctl("--profile", str(path), "whoami")

    assert result.code == 2
    assert message in result.stderr


def test_a_missing_profile_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"

    result = run_hubctl("whoami", env={"HUB_PROFILE": str(missing)})

    assert result.code == 2
    assert f"cannot read profile {missing}" in result.stderr


def test_no_hub_at_the_address_is_one_line_and_exit_1() -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run_hubctl("whoami", env={"HUB_ADDRESS": address})

    assert result.code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach the hub at {address}; start it, or set --address or "
        "HUB_ADDRESS"
    ]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        pytest.param("bash", "complete -o nosort -F", id="bash"),
        pytest.param("zsh", "compdef", id="zsh"),
    ],
)
def test_completion_script(shell: str, marker: str) -> None:
    result = run_hubctl("completion", shell)

    assert result.code == 0
    assert marker in result.stdout
    assert "_HUBCTL_COMPLETE" in result.stdout


def test_completion_answers_command_names() -> None:
    environment = {"COMP_WORDS": "hubctl principal as", "COMP_CWORD": "2"}
    environment["_HUBCTL_COMPLETE"] = "bash_complete"

    result = run_hubctl(env=environment)

    assert result.code == 0
    assert result.stdout.split() == ["plain,assign"]


def _help_pages(prefix: list[str]) -> dict[tuple[str, ...], tuple[int, str]]:
    """Exit status and help text of every command under ``prefix``."""
    result = run_hubctl(*prefix, "--help")
    pages = {tuple(prefix): (result.code, result.stdout)}
    lines = result.stdout.splitlines()
    start = lines.index("Commands:") + 1 if "Commands:" in lines else len(lines)
    for line in lines[start:]:
        if line.startswith("  "):
            pages.update(_help_pages([*prefix, line.split()[0]]))
    return pages


def test_every_command_has_help() -> None:
    pages = _help_pages([])

    assert ("present",) in pages
    assert ("credential", "test") in pages
    assert len(pages) > 40
    for path, (code, text) in pages.items():
        assert code == 0, path
        assert text.startswith(f"Usage: hubctl {' '.join(path)}".rstrip()), path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"HUB_CLIENT_ID": "hub_0123456789abcdef0123"},
            "a client id is set but not its pair: set HUB_CLIENT_SECRET or "
            "--client-secret-file",
            id="id-without-secret",
        ),
        pytest.param(
            {"HUB_CLIENT_SECRET": "s3cret-value"},
            "a secret is set but not its pair: set HUB_CLIENT_ID or --client-id",
            id="secret-without-id",
        ),
    ],
)
def test_half_a_token_is_a_usage_error(env: dict[str, str], message: str) -> None:
    result = run_hubctl("whoami", env={**NOWHERE, **env})

    assert result.code == 2
    assert message in result.stderr
    assert "s3cret-value" not in result.stderr
