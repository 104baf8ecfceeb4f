"""hubctl against a real hub: credentials, managed challenges, present and cleanup."""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.cli.conftest import HUBCTL, Hubctl, Result
from tests.servers.ports import free_port

VALUE_A = "a" * 43
VALUE_B = "B" * 43
VALUE_C = "c-" * 21 + "c"


def _txt_values(dns_address: str, name: str) -> set[str]:
    """The TXT values the hub's embedded DNS server answers for ``name``."""
    host, port = dns_address.rsplit(":", 1)
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    answer = dns.query.udp(query, host, port=int(port), timeout=5)
    return {
        b"".join(rdata.strings).decode() for rrset in answer.answer for rdata in rrset
    }


def _one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def embedded(hubctl: Hubctl) -> str:
    """A credential for the hub's own DNS server."""
    created = hubctl(
        "credential", "add", "--provider", "embedded", "--title", "embedded", "--json"
    )
    assert created.code == 0, created.stderr
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def demo(hubctl: Hubctl, hub: Any, embedded: str) -> Iterator[str]:
    """A config for demo.test that checks propagation on the embedded server."""
    created = hubctl(
        "challenge", "add", "--title", "demo", "--credential", embedded,
        "--match", "demo.test; *.demo.test",
        "--option", f"nameservers={hub.dns_address}",
        "--option", "propagation_timeout=20",
        "--json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    yield str(created.json()["id"])


def test_providers(hubctl: Hubctl) -> None:
    providers = {
        p["type"]: p for p in hubctl("credential", "providers", "--json").json()
    }
    table = hubctl("credential", "providers")

    assert {"embedded", "rfc2136", "powerdns"} <= set(providers)
    secret = {p["name"]: p["secret"] for p in providers["rfc2136"]["parameters"]}
    assert secret["tsig_secret"] is True
    assert secret["server"] is False
    assert "tsig_secret     required, secret" in table.stdout


def _rfc2136(hubctl: Hubctl, *secret: str, input: str | None = None) -> Result:
    return hubctl(
        "credential", "add", "--provider", "rfc2136", "--title", "bind",
        "--param", "server=127.0.0.1:53", "--param", "tsig_key_name=hub-key",
        *secret, "--json",
        input=input,
    )  # fmt: skip


def test_secret_from_standard_input_is_never_shown(hubctl: Hubctl) -> None:
    secret = "c2VjcmV0LWZyb20tc3RkaW4="

    created = _rfc2136(hubctl, "--secret", "tsig_secret", input=secret + "\n")
    credential_id = created.json()["id"]
    outputs = [
        created,
        hubctl("credential", "show", credential_id),
        hubctl("credential", "show", credential_id, "--json"),
        hubctl("credential", "list"),
        hubctl("credential", "list", "--json"),
    ]

    assert created.code == 0, created.stderr
    assert created.json()["secret_parameters_set"] == ["tsig_secret"]
    assert created.json()["parameters"]["tsig_key_name"] == "hub-key"
    for output in outputs:
        assert output.code == 0
        assert secret not in output.stdout + output.stderr
    assert "Secrets set: tsig_secret" in outputs[1].stdout


def test_secret_from_a_file(hubctl: Hubctl, tmp_path: Path) -> None:
    secret_file = tmp_path / "tsig"
    secret_file.write_text("ZmlsZS1zZWNyZXQ=\n")

    created = _rfc2136(hubctl, "--secret", f"tsig_secret=@{secret_file}")

    assert created.code == 0, created.stderr
    assert created.json()["secret_parameters_set"] == ["tsig_secret"]


def test_secret_from_a_hidden_prompt(hub: Any) -> None:
    # A terminal on standard input makes hubctl prompt without echoing.
    primary, secondary = os.openpty()
    process = subprocess.Popen(
        [str(HUBCTL), "credential", "add", "--provider", "rfc2136", "--title", "tty",
         "--param", "server=127.0.0.1:53", "--param", "tsig_key_name=k",
         "--secret", "tsig_secret", "--json"],
        env={**os.environ, **hub.env()},
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    prompt = b""
    while b"tsig_secret:" not in prompt:
        ready, _, _ = select.select([primary], [], [], 30)
        assert ready, prompt
        prompt += os.read(primary, 1024)
    os.write(primary, b"dHR5LXNlY3JldA==\n")
    stdout, _ = process.communicate(timeout=60)
    os.close(primary)

    assert process.returncode == 0
    assert b"dHR5LXNlY3JldA==" not in stdout
    assert b'"tsig_secret"' in stdout


def test_secret_given_as_a_plain_parameter_is_refused(hubctl: Hubctl) -> None:
    result = hubctl(
        "credential", "add", "--provider", "rfc2136", "--title", "t",
        "--param", "tsig_secret=dG9wLXNlY3JldA==",
    )  # fmt: skip

    assert result.code == 2
    assert "tsig_secret is secret" in result.stderr
    assert "dG9wLXNlY3JldA==" not in result.stderr


def test_standard_input_ending_early_is_a_usage_error(hubctl: Hubctl) -> None:
    result = hubctl(
        "credential", "add", "--provider", "powerdns", "--title", "t",
        "--param", "api_url=http://127.0.0.1:9", "--secret", "api_key",
        "--secret", "other",
        input="one-line-only\n",
    )  # fmt: skip

    assert result.code == 2
    assert "standard input ended before the value of secret other" in result.stderr


def test_credential_update_keeps_other_parameters(hubctl: Hubctl) -> None:
    credential_id = _rfc2136(hubctl, "--secret", "tsig_secret", input="YQ==\n").json()[
        "id"
    ]

    renamed = hubctl("credential", "update", credential_id, "--title", "renamed")
    moved = hubctl(
        "credential", "update", credential_id, "--param", "server=127.0.0.2:53",
        "--secret", "tsig_secret", "--json",
        input="Yg==\n",
    )  # fmt: skip

    assert renamed.stdout == f"Updated credential {credential_id} (renamed).\n"
    assert moved.code == 0, moved.stderr
    assert moved.json()["title"] == "renamed"
    assert moved.json()["parameters"]["server"] == "127.0.0.2:53"
    assert moved.json()["parameters"]["tsig_key_name"] == "hub-key"
    assert moved.json()["secret_parameters_set"] == ["tsig_secret"]


def test_credential_test(hubctl: Hubctl, embedded: str) -> None:
    passed = hubctl("credential", "test", embedded, "--zone", "www.demo.test")
    failed = hubctl("credential", "test", embedded, "--zone", "other.example")
    failed_json = hubctl(
        "credential", "test", embedded, "--zone", "x.invalid", "--json"
    )

    assert passed.code == 0
    assert passed.stdout.startswith("OK: zone demo.test (")
    assert failed.code == 1
    assert _one_error_line(failed).startswith("Error: credential test failed: ")
    assert failed_json.code == 1
    assert failed_json.json()["ok"] is False


def test_credential_remove(hubctl: Hubctl) -> None:
    credential_id = hubctl(
        "credential", "add", "--provider", "embedded", "--title", "gone", "--json"
    ).json()["id"]

    removed = hubctl("credential", "remove", credential_id)

    assert removed.stdout == f"Removed credential {credential_id}.\n"
    assert hubctl("credential", "show", credential_id).code == 1


def test_challenge_config_lifecycle(hubctl: Hubctl, embedded: str) -> None:
    created = hubctl(
        "challenge", "add", "--title", "life", "--credential", embedded,
        "--match", "**.life.demo.test",
        "--option", "ttl=120", "--option", "skip_propagation_check=true",
        "--option", "nameservers=127.0.0.1:5300,127.0.0.2:5300",
        "--option", "follow_cname=yes", "--option", "max_record_age=600",
        "--option", "description=for the lifecycle test",
        "--json",
    )  # fmt: skip
    config = created.json()
    config_id = config["id"]

    assert created.code == 0, created.stderr
    assert (config["ttl"], config["follow_cname"]) == (120, True)
    assert config["max_record_age_seconds"] == 600
    assert config["description"] == "for the lifecycle test"
    assert config["propagation"] == {
        "skip_check": True,
        "timeout_seconds": 0,
        "nameservers": ["127.0.0.1:5300", "127.0.0.2:5300"],
    }

    updated = hubctl(
        "challenge", "update", config_id, "--title", "life 2",
        "--option", "propagation_timeout=30", "--json",
    ).json()  # fmt: skip
    assert updated["title"] == "life 2"
    assert updated["propagation"]["timeout_seconds"] == 30
    assert updated["propagation"]["nameservers"] == ["127.0.0.1:5300", "127.0.0.2:5300"]
    assert updated["ttl"] == 120

    assert config_id in [c["id"] for c in hubctl("challenge", "list", "--json").json()]
    assert "**.life.demo.test" in hubctl("challenge", "list").stdout
    assert "Follow CNAME: yes" in hubctl("challenge", "show", config_id).stdout

    assert hubctl("challenge", "remove", config_id, "--json").json() == {
        "id": config_id,
        "removed": True,
    }
    gone = hubctl("challenge", "show", config_id)
    assert gone.code == 1
    assert _one_error_line(gone).endswith("list the ids with: hubctl challenge list")


def test_duplicate_rule_names_the_first_config(
    hubctl: Hubctl, embedded: str, demo: str
) -> None:
    result = hubctl(
        "challenge", "add", "--title", "again", "--credential", embedded,
        "--match", "*.demo.test",
    )  # fmt: skip

    assert result.code == 1
    assert demo in _one_error_line(result)


def test_resolve(hubctl: Hubctl, demo: str) -> None:
    found = hubctl("challenge", "resolve", "WWW.Demo.Test.", "--json")
    table = hubctl("challenge", "resolve", "www.demo.test")
    missing = hubctl("challenge", "resolve", "www.example.org")

    assert found.code == 0
    assert found.json()["managed_challenge"]["id"] == demo
    assert found.json()["validation_name"] == "_acme-challenge.www.demo.test"
    assert found.json()["matched_entry"] == "*.demo.test"
    assert "Record:     _acme-challenge.www.demo.test" in table.stdout
    assert missing.code == 1
    assert "no managed challenge serves www.example.org" in _one_error_line(missing)


def test_present_wait_shows_progress_then_the_record_serves(
    hubctl: Hubctl, hub: Any, demo: str
) -> None:
    result = hubctl("present", "wait.demo.test", "--value", VALUE_A, "--wait", "--json")

    assert result.code == 0, result.stderr
    operation = result.json()
    assert operation["state"] == "OPERATION_STATE_READY"
    assert operation["managed_challenge_id"] == demo
    progress = result.stderr.splitlines()
    assert progress[0] == "presenting: _acme-challenge.wait.demo.test"
    assert progress[-2] == "ready: _acme-challenge.wait.demo.test in zone demo.test"
    assert progress[-1].startswith("ready after ")
    assert _txt_values(hub.dns_address, "_acme-challenge.wait.demo.test") == {VALUE_A}

    table = hubctl("records", "list", "--name", "wait.demo.test")
    assert "_acme-challenge.wait.demo.test  ready" in table.stdout


def test_present_then_watch_and_show_the_operation(
    hubctl: Hubctl, hub: Any, demo: str
) -> None:
    started = hubctl("present", "watch.demo.test", "--value", VALUE_B, "--json")
    operation_id = started.json()["id"]

    watched = hubctl("operation", "watch", operation_id, "--json")
    shown = hubctl("operation", "show", operation_id)

    assert started.code == 0
    assert watched.code == 0, watched.stderr
    assert watched.json()["state"] == "OPERATION_STATE_READY"
    assert watched.stderr.splitlines()[-1].startswith("ready: ")
    assert "State:      ready" in shown.stdout
    assert "Record:     _acme-challenge.watch.demo.test" in shown.stdout


def test_apex_and_wildcard_share_a_name_and_cleanup_is_idempotent(
    hubctl: Hubctl, hub: Any, demo: str
) -> None:
    name = "_acme-challenge.demo.test"
    hubctl("present", "demo.test", "--value", VALUE_A, "--wait")
    hubctl("present", "*.demo.test", "--value", VALUE_C, "--wait")
    records = hubctl("records", "list", "--name", name, "--state", "ready", "--json")

    first = hubctl("cleanup", "demo.test", "--value", VALUE_A)
    again = hubctl("cleanup", "demo.test", "--value", VALUE_A, "--json")

    assert sorted(r["value"] for r in records.json()) == sorted([VALUE_A, VALUE_C])
    assert first.code == 0
    assert first.stdout == f"Removed the value from {name}.\n"
    assert again.code == 0
    assert again.json()["removed"] is False
    assert _txt_values(hub.dns_address, name) == {VALUE_C}


def test_a_failed_propagation_exits_1_with_the_reason(
    hubctl: Hubctl, embedded: str
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    hubctl(
        "challenge", "add", "--title", "unreachable", "--credential", embedded,
        "--match", "fail.demo.test", "--option", f"nameservers={dead}",
        "--option", "propagation_timeout=2",
    )  # fmt: skip

    result = hubctl("present", "fail.demo.test", "--value", VALUE_A, "--wait", "--json")

    assert result.code == 1
    assert result.json()["state"] == "OPERATION_STATE_FAILED"
    line = _one_error_line(result)
    assert line.startswith(f"Error: operation {result.json()['id']} failed: ")
    assert dead in line


ADD = ["challenge", "add", "--title", "t", "--credential"]
PRESENT_REFUSALS = [
    pytest.param(
        ["present", "www.demo.test", "--value", "v=spf1 include:evil.test"],
        "value",
        id="not-a-dns01-value",
    ),
    pytest.param(
        ["present", "www.example.org", "--value", VALUE_A],
        "www.example.org",
        id="no-config",
    ),
    pytest.param(
        ["present", "www.demo.test", "--value", VALUE_A]
        + ["--record-name", "_acme-challenge.other.demo.test"],
        "_acme-challenge.other.demo.test",
        id="record-name-mismatch",
    ),
    pytest.param(
        ["operation", "show", "op-0000"],
        "list the ids with: hubctl records list",
        id="unknown-operation",
    ),
    pytest.param(["challenge", "show", "mc-0000"], "mc-0000", id="unknown-config"),
    pytest.param(
        ["challenge", "update", "mc-0000", "--title", "x"],
        "mc-0000",
        id="update-unknown",
    ),
    pytest.param(["challenge", "remove", "mc-0000"], "mc-0000", id="remove-unknown"),
    pytest.param(
        ADD + ["c-0000", "--match", "x.demo.test"],
        "stored credential 'c-0000' not found; list the ids with: "
        "hubctl credential list",
        id="unknown-credential",
    ),
    pytest.param(
        ADD + ["EMBEDDED", "--match", "*.com"], "com", id="public-suffix-rule"
    ),
]


@pytest.mark.parametrize(("args", "fragment"), PRESENT_REFUSALS)
def test_refusals_are_one_line_and_exit_1(
    hubctl: Hubctl, embedded: str, demo: str, args: list[str], fragment: str
) -> None:
    result = hubctl(*[embedded if arg == "EMBEDDED" else arg for arg in args])

    assert result.code == 1
    assert fragment in _one_error_line(result)
    assert result.stdout == ""
