"""The hub as a process: health, reflection, fresh stubs, init, shutdown, PostgreSQL."""

from __future__ import annotations

import filecmp
import json
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import grpc
import psycopg2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from hub_client.client import HubClient
from hub_client.hub.v1 import (
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    token_pb2,
)
from tests.servers.hub import HubServer
from tests.servers.ports import free_port
from tests.servers.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]

HUB_SERVICES = {
    "hub.v1.AuditService",
    "hub.v1.ChallengeService",
    "hub.v1.CredentialService",
    "hub.v1.PrincipalService",
    "hub.v1.RoleService",
    "hub.v1.TokenService",
}
HEALTH_SERVICE = "grpc.health.v1.Health"


def _health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=service)
        return int(stub.Check(request, timeout=5).status)


@pytest.mark.parametrize("service", ["", *sorted(HUB_SERVICES)])
def test_health_answers_serving(hub: HubServer, service: str) -> None:
    assert _health(hub.address, service) == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(hub: HubServer) -> None:
    with grpc.insecure_channel(hub.address) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())

    assert HUB_SERVICES | {HEALTH_SERVICE} <= services


def test_reflection_describes_methods(hub: HubServer) -> None:
    with grpc.insecure_channel(hub.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        found = database.FindFileContainingSymbol("hub.v1.ChallengeService")

    (service,) = [s for s in found.service if s.name == "ChallengeService"]
    assert {"PerformChallenge", "WatchOperation", "CleanupChallenge"} <= {
        method.name for method in service.method
    }


def test_generated_stubs_are_not_stale(tmp_path: Path) -> None:
    # -o: never reinstall the virtual environment just to regenerate stubs.
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "proto", f"PROTO_OUT={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    generated = tmp_path / "hub" / "v1"
    committed = REPO / "hub_client" / "hub" / "v1"
    names = sorted(p.name for p in generated.iterdir() if p.is_file())
    assert names == sorted(p.name for p in committed.iterdir() if p.is_file())
    stale = [n for n in names if not filecmp.cmp(generated / n, committed / n, False)]
    assert stale == [], "run 'make proto' and commit the result"
    assert (tmp_path / "hub" / "__init__.py").read_bytes() == (
        REPO / "hub_client" / "hub" / "__init__.py"
    ).read_bytes()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_on_disk_are_for_the_owner_only(hub: HubServer) -> None:
    var = hub.workdir / "var"

    assert _mode(var / "admin-credentials.json") == 0o600
    assert _mode(var / "master.key") == 0o600
    assert _mode(var) == 0o700


def test_the_credentials_file_is_a_hubctl_profile(hub: HubServer) -> None:
    profile = json.loads(hub.profile_path.read_text())

    assert profile["address"] == hub.address
    with hub.client() as client:
        me = client.tokens.WhoAmI(token_pb2.WhoAmIRequest())
    assert me.token.client_id == profile["client_id"]
    assert "administrator" in me.effective_role_ids


def _administrator_assignments(client: HubClient) -> list[str]:
    answer = client.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(page_size=1000)
    )
    return [
        a.principal_id for a in answer.role_assignments if a.role_id == "administrator"
    ]


def test_init_again_creates_and_overwrites_nothing(hub: HubServer) -> None:
    var = hub.workdir / "var"
    before = {
        name: (var / name).read_bytes()
        for name in ("admin-credentials.json", "master.key")
    }
    with hub.client() as client:
        admins = _administrator_assignments(client)

    result = hub.run_init()

    assert result.returncode == 0, result.stderr
    assert "already initialised" in result.stdout
    assert hub.secret not in result.stdout + result.stderr
    assert {name: (var / name).read_bytes() for name in before} == before
    with hub.client() as client:
        assert _administrator_assignments(client) == admins
    assert len(admins) == 1


def test_init_without_the_credentials_file_makes_no_second_administrator(
    fresh_hub: HubServer,
) -> None:
    fresh_hub.profile_path.unlink()

    result = fresh_hub.run_init()

    assert result.returncode == 0, result.stderr
    assert not fresh_hub.profile_path.exists()
    with fresh_hub.client() as client:
        assert len(_administrator_assignments(client)) == 1


@pytest.fixture
def silent_nameserver() -> Iterator[str]:
    """A UDP and TCP port on loopback that takes queries and never answers."""
    for _ in range(20):
        port = free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind(("127.0.0.1", port))
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        yield f"127.0.0.1:{port}"
        udp.close()
        tcp.close()
        return
    raise RuntimeError("no free port for the silent nameserver")


def _served_values(dns_address: str, name: str) -> set[str]:
    host, port = dns_address.rsplit(":", 1)
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    answer = dns.query.udp(query, host, port=int(port), timeout=2)
    return {
        b"".join(rdata.strings).decode()
        for rrset in answer.answer
        for rdata in rrset
        if rrset.rdtype == dns.rdatatype.TXT
    }


def test_sigterm_lets_a_waiting_call_finish(
    tmp_path: Path, silent_nameserver: str
) -> None:
    value = "sigterm-waits-for-calls-in-flight-000000000"
    hub = HubServer(tmp_path / "hub").start()
    try:
        with hub.client() as admin:
            credential = admin.credentials.CreateStoredCredential(
                credential_pb2.CreateStoredCredentialRequest(
                    title="embedded", provider_type="embedded"
                )
            )
            admin.challenges.CreateManagedChallenge(
                challenge_pb2.CreateManagedChallengeRequest(
                    managed_challenge=challenge_pb2.ManagedChallenge(
                        title="demo.test, checked on a server that never answers",
                        challenge_type="dns-01",
                        credential_id=credential.id,
                        domain_match_rule="**.demo.test",
                        propagation=challenge_pb2.PropagationSettings(
                            timeout_seconds=4, nameservers=[silent_nameserver]
                        ),
                    )
                )
            )
        answers: list[challenge_pb2.Operation] = []
        errors: list[BaseException] = []

        def perform() -> None:
            request = challenge_pb2.PerformChallengeRequest(
                identifier="www.demo.test", value=value, wait=True
            )
            try:
                with hub.client() as client:
                    answers.append(
                        client.challenges.PerformChallenge(request, timeout=30)
                    )
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=perform)
        caller.start()
        # The value is served once the call has written it and started waiting.
        deadline = time.monotonic() + 10
        while value not in _served_values(
            hub.dns_address, "_acme-challenge.www.demo.test"
        ):
            assert time.monotonic() < deadline, hub.log()
            time.sleep(0.05)
        assert hub.process is not None
        hub.process.send_signal(signal.SIGTERM)

        caller.join(timeout=30)
        exit_code = hub.process.wait(timeout=30)
    finally:
        hub.stop()

    assert errors == []
    (operation,) = answers
    assert operation.state == challenge_pb2.OPERATION_STATE_FAILED
    assert silent_nameserver in operation.reason
    assert exit_code == 0, hub.log()
    assert "hub stopped" in hub.log()


@pytest.mark.postgres
def test_the_hub_runs_on_postgresql(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    server = HubServer(tmp_path / "hub", env={"HUB_DATABASE_URL": url})

    with server, server.client() as client:
        me = client.tokens.WhoAmI(token_pb2.WhoAmIRequest())
        client.principals.CreatePrincipal(
            principal_pb2.CreatePrincipalRequest(
                type=principal_pb2.PRINCIPAL_TYPE_APPLICATION, title="web-01"
            )
        )
    # A restart finds what the first run stored.
    with server, server.client() as client:
        listed = client.principals.ListPrincipals(principal_pb2.ListPrincipalsRequest())

    assert sorted(p.title for p in listed.principals) == ["Administrator", "web-01"]
    assert me.principal.title == "Administrator"
    assert not (tmp_path / "hub" / "var" / "hub.db").exists()
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT title FROM principal ORDER BY title")
            assert cursor.fetchall() == [("Administrator",), ("web-01",)]
    finally:
        connection.close()
