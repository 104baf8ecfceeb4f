"""No secret given to a hub shows up in a log, an audit row, an answer or on disk."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub_client.client import Credentials, HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import (
    audit_pb2,
    challenge_pb2,
    credential_pb2,
    token_pb2,
)
from tests.server.auth_support import VALUE, issue_token
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.powerdns import PowerDnsServer, start_powerdns


@dataclass
class Exposure:
    """What a hub was given and what it handed back during one busy session."""

    hub: HubServer
    secrets: set[str] = field(default_factory=set)
    answers: list[str] = field(default_factory=list)
    audit_rows: list[str] = field(default_factory=list)

    def keep(self, answer: object) -> None:
        self.answers.append(str(answer))

    def attempt(self, call: object) -> None:
        """Run a call that may be refused, keeping the answer or the error."""
        try:
            self.keep(call() if callable(call) else call)
        except HubClientError as error:
            self.answers.append(f"{error.code.name}: {error.message}")


@pytest.fixture(scope="module")
def bind() -> Iterator[BindServer]:
    server = BindServer(zones=("example.com", "example.org"), records={}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def powerdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDnsServer]:
    server = start_powerdns(tmp_path_factory.mktemp("pdns"), zones=("example.net",))
    try:
        yield server
    finally:
        server.stop()


def _credential(
    admin: HubClient, title: str, provider_type: str, params: dict[str, str]
) -> str:
    created = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title=title, provider_type=provider_type, parameters=params
        )
    )
    return str(created.id)


def _config(admin: HubClient, credential_id: str, rule: str, bind: BindServer) -> None:
    admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title=rule,
                challenge_type="dns-01",
                credential_id=credential_id,
                domain_match_rule=rule,
                ttl=60,
                propagation=challenge_pb2.PropagationSettings(
                    timeout_seconds=10, nameservers=[bind.server]
                ),
            )
        )
    )


def _exercise(exposure: Exposure, bind: BindServer, powerdns: PowerDnsServer) -> None:
    """Credentials good and bad, tokens, refusals and a published challenge."""
    hub = exposure.hub
    wrong_tsig = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong_api_key = secrets.token_urlsafe(24)
    exposure.secrets |= {
        hub.secret,
        bind.tsig_secret,
        wrong_tsig,
        powerdns.api_key,
        wrong_api_key,
        (hub.workdir / "var" / "master.key").read_text().strip(),
    }
    with hub.client() as admin:
        good_tsig = _credential(admin, "bind", "rfc2136", bind.provider_params())
        bad_tsig = _credential(
            admin,
            "bind, bad key",
            "rfc2136",
            {**bind.provider_params(), "tsig_secret": wrong_tsig},
        )
        pdns = {"api_url": powerdns.api_url, "api_key": powerdns.api_key}
        good_pdns = _credential(admin, "pdns", "powerdns", pdns)
        bad_pdns = _credential(
            admin, "pdns, bad key", "powerdns", {**pdns, "api_key": wrong_api_key}
        )
        for credential_id, zone in (
            (good_tsig, "example.com"),
            (bad_tsig, "example.org"),
            (good_pdns, "example.net"),
            (bad_pdns, "example.net"),
        ):
            exposure.attempt(
                lambda c=credential_id, z=zone: admin.credentials.TestStoredCredential(
                    credential_pb2.TestStoredCredentialRequest(id=c, zone=z)
                )
            )
            exposure.keep(
                admin.credentials.GetStoredCredential(
                    credential_pb2.GetStoredCredentialRequest(id=credential_id)
                )
            )
        exposure.keep(
            admin.credentials.ListStoredCredentials(
                credential_pb2.ListStoredCredentialsRequest()
            )
        )
        _config(admin, good_tsig, "**.example.com", bind)
        _config(admin, bad_tsig, "**.example.org", bind)

        consumer_roles = {"managed-challenge-consumer": ""}
        _, consumer = issue_token(admin, "consumer", consumer_roles)
        exposure.secrets.add(consumer.secret)
        with hub.client(consumer) as client:
            for identifier in ("www.example.com", "www.example.org"):
                exposure.attempt(
                    lambda i=identifier: client.challenges.PerformChallenge(
                        challenge_pb2.PerformChallengeRequest(
                            identifier=i, value=VALUE, wait=True
                        ),
                        timeout=30,
                    )
                )
                exposure.attempt(
                    lambda i=identifier: client.challenges.CleanupChallenge(
                        challenge_pb2.CleanupChallengeRequest(identifier=i, value=VALUE)
                    )
                )

        wrong_secret = secrets.token_urlsafe(32)
        exposure.secrets.add(wrong_secret)
        for presented in (
            Credentials(consumer.client_id, wrong_secret),
            Credentials("hub_unknown", wrong_secret),
        ):
            with HubClient(hub.address, presented) as caller:
                exposure.attempt(
                    lambda c=caller: c.tokens.WhoAmI(token_pb2.WhoAmIRequest())
                )

        exposure.audit_rows = [
            str(event)
            for event in admin.audit.ListAuditEvents(
                audit_pb2.ListAuditEventsRequest(page_size=1000)
            ).events
        ]


@pytest.fixture(scope="module")
def exposure(
    tmp_path_factory: pytest.TempPathFactory,
    bind: BindServer,
    powerdns: PowerDnsServer,
) -> Exposure:
    """A hub logging at DEBUG put through :func:`_exercise`, then stopped."""
    env = {
        "HUB_LOG_LEVEL": "DEBUG",
        "HUB_RESOLVERS": bind.server,
        "HUB_AUTHORITATIVE_PORT": str(bind.port),
    }
    hub = HubServer(tmp_path_factory.mktemp("hub"), env=env)
    with hub:
        found = Exposure(hub)
        _exercise(found, bind, powerdns)
    # Stopped: the log is complete and SQLite has folded its journal back.
    return found


def _leaks(text: str, secret_values: set[str]) -> list[str]:
    """The secrets found in ``text``, shortened so the failure shows no secret."""
    return sorted(
        f"{value[:4]}... ({len(value)} chars)"
        for value in secret_values
        if value in text
    )


def test_the_scenario_did_what_it_should(exposure: Exposure) -> None:
    answers = "\n".join(exposure.answers)

    assert (
        "OPERATION_STATE_READY" in answers or "state: OPERATION_STATE_READY" in answers
    )
    assert "UNAUTHENTICATED" in answers
    assert len(exposure.secrets) >= 8
    assert exposure.audit_rows
    assert "DEBUG" in exposure.hub.log()


def test_no_secret_in_the_hubs_log(exposure: Exposure) -> None:
    assert _leaks(exposure.hub.log(), exposure.secrets) == []


def test_no_secret_in_an_audit_row(exposure: Exposure) -> None:
    assert _leaks("\n".join(exposure.audit_rows), exposure.secrets) == []


def test_no_secret_in_an_answer_after_creation(exposure: Exposure) -> None:
    assert _leaks("\n".join(exposure.answers), exposure.secrets) == []


def test_no_secret_in_the_database_file(exposure: Exposure) -> None:
    var = exposure.hub.workdir / "var"
    raw = b"".join(path.read_bytes() for path in sorted(var.glob("hub.db*")))

    assert raw
    assert [s[:4] for s in exposure.secrets if s.encode() in raw] == []


def _session_secrets(root: Path) -> set[str]:
    """Admin secrets and master keys of every hub this session started."""
    found: set[str] = set()
    for path in root.rglob("admin-credentials.json"):
        found.add(json.loads(path.read_text())["client_secret"])
    for path in root.rglob("master.key"):
        found.add(path.read_text().strip())
    return {value for value in found if len(value) >= 16}


def test_no_hub_of_the_session_logged_a_secret(
    exposure: Exposure, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.getbasetemp()
    known = exposure.secrets | _session_secrets(root)
    logs = sorted(root.rglob("hub.log"))

    leaks = {
        str(path.relative_to(root)): _leaks(path.read_text(errors="replace"), known)
        for path in logs
    }

    assert exposure.hub.log_path in logs
    assert {path: found for path, found in leaks.items() if found} == {}
