"""hubctl against a real hub: whoami, principals, roles, tokens, profiles, audit."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Hubctl, Result, run_hubctl


def _new_principal(hubctl: Hubctl, title: str, *roles: str) -> str:
    principal_id = str(
        hubctl(
            "principal", "add", "--type", "application", "--title", title, "--json"
        ).json()["id"]
    )
    for role in roles:
        assert hubctl("principal", "assign", principal_id, role).code == 0
    return principal_id


def _new_token(hubctl: Hubctl, principal_id: str, *extra: str) -> dict[str, Any]:
    result = hubctl(
        "token", "create", "--principal", principal_id, "--title", "t", "--json",
        *extra,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return dict(result.json())


def _as(token: dict[str, Any], hub: Any) -> dict[str, str]:
    """Environment that makes hubctl act with ``token``."""
    return {
        "HUB_ADDRESS": hub.address,
        "HUB_CLIENT_ID": token["client_id"],
        "HUB_CLIENT_SECRET": token["secret"],
    }


def _one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_whoami(hubctl: Hubctl) -> None:
    table = hubctl("whoami")
    answer = hubctl("whoami", "--json").json()

    assert table.code == 0
    assert "Principal: " in table.stdout
    assert "administrator: any name" in table.stdout
    assert answer["principal"]["title"] == "Administrator"
    assert answer["effective_role_ids"] == ["administrator"]
    assert "challenge.request" in answer["actions"]


def test_json_may_come_before_the_command(hubctl: Hubctl) -> None:
    assert hubctl("--json", "whoami").json() == hubctl("whoami", "--json").json()


def test_principal_lifecycle(hubctl: Hubctl) -> None:
    created = hubctl(
        "principal", "add", "--type", "user", "--title", "Alice",
        "--description", "on call", "--json",
    )  # fmt: skip
    principal_id = created.json()["id"]

    assert created.code == 0
    assert created.json()["type"] == "PRINCIPAL_TYPE_USER"
    assert principal_id in [
        p["id"] for p in hubctl("principal", "list", "--json").json()
    ]
    assert principal_id in hubctl("principal", "list").stdout

    updated = hubctl("principal", "update", principal_id, "--title", "Alice B")
    assert updated.code == 0
    assert updated.stdout == f"Updated principal {principal_id} (Alice B).\n"
    shown = hubctl("principal", "show", principal_id, "--json").json()
    assert (shown["title"], shown["description"]) == ("Alice B", "on call")

    assert (
        hubctl("principal", "disable", principal_id, "--json").json()["enabled"]
        is False
    )
    assert "Enabled:     no" in hubctl("principal", "show", principal_id).stdout
    assert (
        hubctl("principal", "enable", principal_id, "--json").json()["enabled"] is True
    )

    removed = hubctl("principal", "remove", principal_id, "--json")
    assert removed.json() == {"id": principal_id, "removed": True}
    assert hubctl("principal", "show", principal_id).code == 1


def test_role_assignment(hubctl: Hubctl) -> None:
    principal_id = _new_principal(hubctl, "assignee")

    assigned = hubctl(
        "principal", "assign", principal_id, "managed-challenge-consumer",
        "--domains", "*.demo.test",
    )  # fmt: skip
    shown = hubctl("principal", "show", principal_id, "--json").json()
    again = hubctl("principal", "assign", principal_id, "managed-challenge-consumer")
    unassigned = hubctl(
        "principal", "unassign", principal_id, "managed-challenge-consumer"
    )

    assert assigned.code == 0
    assert assigned.stdout == (
        f"Assigned managed-challenge-consumer to {principal_id} for *.demo.test.\n"
    )
    assert [
        (a["role_id"], a["domain_restrictions"]) for a in shown["role_assignments"]
    ] == [("managed-challenge-consumer", "*.demo.test")]
    assert again.code == 1
    assert unassigned.code == 0
    assert "(none)" in hubctl("principal", "show", principal_id).stdout
    twice = hubctl("principal", "unassign", principal_id, "managed-challenge-consumer")
    assert twice.code == 1
    assert _one_error_line(twice).endswith(
        "see the roles a principal holds with: hubctl principal show ID"
    )


def test_roles(hubctl: Hubctl) -> None:
    roles = hubctl("role", "list", "--json").json()
    consumer = hubctl("role", "show", "managed-challenge-consumer")

    assert "administrator" in [role["id"] for role in roles]
    assert consumer.code == 0
    assert "Managed Challenge Consumer" in consumer.stdout
    assert "challenge.request" in consumer.stdout


def test_token_secret_is_shown_once_and_works(hubctl: Hubctl, hub: Any) -> None:
    principal_id = _new_principal(hubctl, "token-owner", "hub-viewer")

    token = _new_token(hubctl, principal_id, "--role", "hub-viewer")
    me = run_hubctl("whoami", "--json", env=_as(token, hub))
    listing = hubctl("token", "list", "--principal", principal_id)
    listing_json = hubctl("token", "list", "--json")
    shown = hubctl("token", "show", token["id"])
    shown_json = hubctl("token", "show", token["id"], "--json")

    assert token["client_id"].strip() and len(token["secret"]) >= 32
    assert token["scope_role_ids"] == ["hub-viewer"]
    assert me.code == 0
    assert me.json()["principal"]["id"] == principal_id
    assert token["client_id"] in listing.stdout
    for output in (listing, listing_json, shown, shown_json):
        assert output.code == 0
        assert token["secret"] not in output.stdout
    assert "secret" not in shown_json.json()


def test_token_create_prints_secret_in_a_table(hubctl: Hubctl) -> None:
    principal_id = _new_principal(hubctl, "table-token", "hub-viewer")

    result = hubctl("token", "create", "--principal", principal_id, "--title", "t")

    assert result.code == 0
    labels = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert labels == ["Token", "Principal", "Roles", "Expires", "Client id", "Secret"]
    assert "shown only" in result.stderr or "Store the secret now" in result.stderr


def test_token_defaults_to_the_roles_held(hubctl: Hubctl) -> None:
    principal_id = _new_principal(hubctl, "two-roles", "hub-viewer")
    hubctl("principal", "assign", principal_id, "managed-challenge-consumer")

    token = _new_token(hubctl, principal_id)

    assert sorted(token["scope_role_ids"]) == [
        "hub-viewer",
        "managed-challenge-consumer",
    ]


def test_token_without_roles_says_what_to_do(hubctl: Hubctl) -> None:
    principal_id = _new_principal(hubctl, "no-roles")

    result = hubctl("token", "create", "--principal", principal_id, "--title", "t")

    assert result.code == 1
    assert _one_error_line(result) == (
        f"Error: principal {principal_id} holds no role; assign one first with: "
        f"hubctl principal assign {principal_id} ROLE"
    )


@pytest.mark.parametrize(
    ("expires", "days"),
    [pytest.param("90d", 90, id="days"), pytest.param("12h", 0.5, id="hours")],
)
def test_token_expiry(hubctl: Hubctl, expires: str, days: float) -> None:
    principal_id = _new_principal(hubctl, "expiring", "hub-viewer")

    token = _new_token(hubctl, principal_id, "--expires", expires)

    expire = datetime.fromisoformat(token["expire_time"])
    expected = datetime.now(UTC) + timedelta(days=days)
    assert abs((expire - expected).total_seconds()) < 120
    assert token["status"] == "active"


def test_token_update_and_revoke(hubctl: Hubctl, hub: Any) -> None:
    principal_id = _new_principal(hubctl, "revoked", "hub-viewer")
    token = _new_token(hubctl, principal_id, "--expires", "2099-01-01T00:00:00Z")

    updated = hubctl("token", "update", token["id"], "--title", "renamed", "--json")
    unexpiring = hubctl("token", "update", token["id"], "--no-expiry", "--json")
    rescoped = hubctl("token", "update", token["id"], "--role", "hub-viewer", "--json")
    revoked = hubctl("token", "revoke", token["id"], "--json")
    refused = run_hubctl("whoami", env=_as(token, hub))

    assert updated.json()["title"] == "renamed"
    assert unexpiring.json()["expire_time"] is None
    assert rescoped.json()["scope_role_ids"] == ["hub-viewer"]
    assert revoked.json()["revoked"] is True
    assert revoked.json()["status"] == "revoked"
    assert refused.code == 1
    assert (
        "set HUB_CLIENT_ID and HUB_CLIENT_SECRET, or use --profile"
        in _one_error_line(refused)
    )


def test_forbidden_action_names_it(hubctl: Hubctl, hub: Any) -> None:
    principal_id = _new_principal(hubctl, "consumer", "managed-challenge-consumer")
    token = _new_token(hubctl, principal_id)

    result = run_hubctl("principal", "list", env=_as(token, hub))

    assert result.code == 1
    line = _one_error_line(result)
    assert "principal.read" in line
    assert line.endswith("ask an administrator for a role that grants it")


UNKNOWN_IDS = [
    pytest.param(["principal", "show", "p-0000"], "principal", id="principal-show"),
    pytest.param(
        ["principal", "update", "p-0000", "--title", "x"],
        "principal",
        id="principal-update",
    ),
    pytest.param(
        ["principal", "disable", "p-0000"], "principal", id="principal-disable"
    ),
    pytest.param(["principal", "remove", "p-0000"], "principal", id="principal-remove"),
    pytest.param(
        ["principal", "assign", "p-0000", "hub-viewer"], "principal", id="assign"
    ),
    pytest.param(["role", "show", "no-such-role"], "role", id="role-show"),
    pytest.param(["token", "show", "t-0000"], "token", id="token-show"),
    pytest.param(["token", "revoke", "t-0000"], "token", id="token-revoke"),
    pytest.param(
        ["token", "update", "t-0000", "--title", "x"], "token", id="token-update"
    ),
    pytest.param(["credential", "show", "sc-0000"], "credential", id="credential-show"),
    pytest.param(
        ["credential", "remove", "sc-0000"], "credential", id="credential-remove"
    ),
    pytest.param(
        ["credential", "test", "sc-0000", "--zone", "example.com"],
        "credential",
        id="credential-test",
    ),
]


@pytest.mark.parametrize(("args", "group"), UNKNOWN_IDS)
def test_unknown_id_is_one_clear_line_and_exit_1(
    hubctl: Hubctl, args: list[str], group: str
) -> None:
    result = hubctl(*args)

    assert result.code == 1
    line = _one_error_line(result)
    assert "not found" in line
    assert args[2] in line
    assert line.endswith(f"list the ids with: hubctl {group} list")
    assert result.stdout == ""


def test_profile_file(hub: Any, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    shutil.copy(hub.profile_path, profile)
    profile.chmod(0o600)

    by_flag = run_hubctl("--profile", str(profile), "whoami", "--json")
    by_env = run_hubctl("whoami", env={"HUB_PROFILE": str(profile)})

    assert by_flag.code == 0
    assert by_flag.json()["token"]["client_id"] == hub.client_id
    assert by_env.code == 0


def test_flags_win_over_environment_and_environment_over_profile(
    hub: Any, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.json"
    shutil.copy(hub.profile_path, profile)
    profile.chmod(0o600)
    secret_file = tmp_path / "secret"
    secret_file.write_text(hub.secret + "\n")

    flag_over_env = run_hubctl(
        "--address", hub.address, "whoami",
        env={**hub.env(), "HUB_ADDRESS": "127.0.0.1:9"},
    )  # fmt: skip
    env_over_profile = run_hubctl(
        "--profile", str(profile), "whoami",
        env={"HUB_CLIENT_SECRET": "wrong-secret"},
    )  # fmt: skip
    secret_file_flag = run_hubctl(
        "--client-secret-file", str(secret_file), "whoami",
        env={**hub.env(), "HUB_CLIENT_SECRET": "wrong-secret"},
    )  # fmt: skip

    assert flag_over_env.code == 0
    assert env_over_profile.code == 1
    assert "wrong-secret" not in env_over_profile.stderr
    assert secret_file_flag.code == 0


def test_no_credentials_says_how_to_give_them(hub: Any) -> None:
    result = run_hubctl("whoami", env={"HUB_ADDRESS": hub.address})

    assert result.code == 1
    assert "set HUB_CLIENT_ID and HUB_CLIENT_SECRET" in _one_error_line(result)


def test_audit_lists_denied_requests(hubctl: Hubctl, hub: Any) -> None:
    principal_id = _new_principal(hubctl, "audited", "managed-challenge-consumer")
    run_hubctl("principal", "list", env=_as(_new_token(hubctl, principal_id), hub))

    events = hubctl(
        "audit", "list", "--principal", principal_id, "--outcome", "denied",
        "--since", "1h", "--json",
    )  # fmt: skip
    table = hubctl("audit", "list", "--limit", "5")

    assert events.code == 0
    assert [event["action"] for event in events.json()] == ["principal.read"]
    assert table.code == 0
    assert len(table.stdout.splitlines()) <= 6


def test_a_name_outside_the_restriction_says_how_to_widen_it(
    hubctl: Hubctl, hub: Any
) -> None:
    principal_id = _new_principal(hubctl, "www only")
    assign = hubctl(
        "principal", "assign", principal_id, "managed-challenge-consumer",
        "--domains", "www.demo.test",
    )  # fmt: skip
    assert assign.code == 0, assign.stderr
    token = _new_token(hubctl, principal_id)

    result = run_hubctl(
        "present", "mail.demo.test", "--value", "A" * 43, env=_as(token, hub)
    )

    assert result.code == 1
    line = _one_error_line(result)
    assert "'mail.demo.test' is outside this token's domain restrictions" in line
    assert line.endswith(
        "ask an administrator to widen the role assignment's --domains"
    )
