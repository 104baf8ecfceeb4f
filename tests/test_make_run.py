"""``make run`` in a fresh copy of the repository: hub, DNS and bridge answer."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
HUBCTL = str(Path(sys.executable).parent / "hubctl")
READY = "Challenge Hub is ready"
HUB_SERVICES = {
    "hub.v1.AuditService",
    "hub.v1.ChallengeService",
    "hub.v1.CredentialService",
    "hub.v1.PrincipalService",
    "hub.v1.RoleService",
    "hub.v1.TokenService",
}


def copy_tree(destination: Path) -> Path:
    """The checkout's tracked files as they are now, and its virtual environment."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # Reuse the environment: a link, so make finds its python and installs nothing.
    (destination / ".venv").symlink_to(VENV)
    return destination


@dataclass
class MakeRun:
    """A running ``make run`` and what it printed so far."""

    process: subprocess.Popen[str]
    workdir: Path
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def log(self) -> str:
        return (self.workdir / "make-run.log").read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._close_output()

    def _close_output(self) -> None:
        if self.reader is not None:
            self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


# -o: treat the install stamp as up to date, so the copy never reinstalls the venv.
MAKE_RUN = ["make", "--no-print-directory", "-o", ".venv/.installed", "run"]
DEVRUN = [".venv/bin/python", "-m", "hub_server.devrun"]


def _start(workdir: Path, env: dict[str, str], command: list[str]) -> MakeRun:
    with (workdir / "make-run.log").open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    run = MakeRun(process, workdir, env)
    run.reader = threading.Thread(target=run.read_output, daemon=True)
    run.reader.start()
    return run


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """``make run`` in a copy of the repository, on free ports, until ready."""
    workdir = copy_tree(tmp_path_factory.mktemp("repo"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "HUB_LISTEN": f"127.0.0.1:{free_port()}",
        "HUB_EMBEDDED_DNS_LISTEN": f"127.0.0.1:{free_port()}",
        "HUB_BRIDGE_LISTEN": f"127.0.0.1:{free_port()}",
    }
    run = _start(workdir, env, MAKE_RUN)
    try:
        if not run.ready.wait(90):
            raise AssertionError(f"no ready line:\n{run.output}\n{run.log()}")
        yield run
    finally:
        # make forwards nothing: signal the whole group it leads.
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGTERM)
        run.stop()


def test_prints_how_to_use_it_without_the_secret(make_run: MakeRun) -> None:
    profile = make_run.workdir / "var" / "admin-credentials.json"
    secret = re.search(r'"client_secret": "([^"]+)"', profile.read_text())
    assert secret is not None

    output = make_run.output
    assert secret.group(1) not in output
    assert secret.group(1) not in make_run.log()
    assert str(profile) in output
    assert f"export HUB_PROFILE={profile}" in output
    assert f"export HUB_ADDRESS={make_run.env['HUB_LISTEN']}" in output
    assert re.search(r"hubctl present www\.demo\.test --value [\w-]{43} --wait", output)
    host, port = make_run.env["HUB_EMBEDDED_DNS_LISTEN"].split(":")
    assert f"dig @{host} -p {port} TXT _acme-challenge.www.demo.test" in output
    assert f"http://{make_run.env['HUB_BRIDGE_LISTEN']}" in output
    assert "Created managed challenges: **.demo.test" in output


def test_the_hub_is_serving_with_every_service(make_run: MakeRun) -> None:
    with grpc.insecure_channel(make_run.env["HUB_LISTEN"]) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert HUB_SERVICES | {"grpc.health.v1.Health"} <= services


def test_the_bridge_answers(make_run: MakeRun) -> None:
    answer = httpx.get(f"http://{make_run.env['HUB_BRIDGE_LISTEN']}/healthz")

    assert answer.status_code == 200


def _dig(address: str, name: str) -> list[str]:
    host, port = address.split(":")
    result = subprocess.run(
        ["dig", f"@{host}", "-p", port, "+short", "TXT", name],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return sorted(line.strip('"') for line in result.stdout.split())


def test_a_present_through_hubctl_shows_up_in_dig(make_run: MakeRun) -> None:
    value = "make-run-present-shows-up-in-dig-0000000000"
    env = {
        **make_run.env,
        "HUB_PROFILE": str(make_run.workdir / "var" / "admin-credentials.json"),
        "HUB_ADDRESS": make_run.env["HUB_LISTEN"],
    }

    present = subprocess.run(
        [HUBCTL, "present", "www.demo.test", "--value", value, "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert present.returncode == 0, present.stderr
    assert "ready" in present.stderr
    name = "_acme-challenge.www.demo.test"
    assert _dig(make_run.env["HUB_EMBEDDED_DNS_LISTEN"], name) == [value]


def _served(address: str, name: str) -> bool:
    host, port = address.split(":")
    query = dns.message.make_query(name, dns.rdatatype.SOA)
    try:
        dns.query.udp(query, host, port=int(port), timeout=0.5)
    except (OSError, dns.exception.Timeout):
        return False
    return True


def test_a_second_run_beside_the_first_refuses_to_start(make_run: MakeRun) -> None:
    second = subprocess.run(
        DEVRUN,
        cwd=make_run.workdir,
        env=make_run.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert second.returncode == 1
    assert "ready" not in second.stdout
    assert second.stderr.strip() == (
        f"make run: {make_run.env['HUB_LISTEN']} is in use (is a hub already "
        "running?); stop it, or set HUB_LISTEN to another address"
    )


def test_ctrl_c_stops_all_and_a_second_run_changes_nothing(
    make_run: MakeRun,
) -> None:
    # Ctrl-C in a terminal: make, devrun and its children all get SIGINT.
    os.killpg(make_run.process.pid, signal.SIGINT)
    make_run.stop()
    assert "stopping" in make_run.output
    assert "hub stopped" in make_run.log()
    assert not _served(make_run.env["HUB_EMBEDDED_DNS_LISTEN"], "demo.test")

    again = _start(make_run.workdir, make_run.env, DEVRUN)
    try:
        assert again.ready.wait(90), f"{again.output}\n{again.log()}"
        assert "already initialised" in again.output
        assert "Created managed challenges" not in again.output
    finally:
        # Only devrun sees this signal: it must stop the hub and the bridge.
        again.process.send_signal(signal.SIGTERM)
        code = again.stop()

    assert code == 0, again.log()
    assert "hub stopped" in again.log()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{make_run.env['HUB_BRIDGE_LISTEN']}/healthz", timeout=2)
    assert not _served(make_run.env["HUB_EMBEDDED_DNS_LISTEN"], "demo.test")
