"""``make run``: a working hub, embedded DNS and bridge on localhost, no set-up."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub_client.client import Credentials, HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import challenge_pb2, credential_pb2
from hub_server.config import ConfigError, Settings, load_settings

# What a first run serves unless the user's environment says otherwise.
DEFAULTS = {
    "HUB_EMBEDDED_DNS_LISTEN": "127.0.0.1:5053",
    "HUB_EMBEDDED_DNS_ZONES": "demo.test",
    "HUB_BRIDGE_LISTEN": "127.0.0.1:8080",
}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
CREDENTIAL_TITLE = "Embedded DNS server (make run)"


class DevRunError(Exception):
    """Something kept the local hub from starting; the message says what."""


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's environment with the defaults filled in where they set nothing."""
    env = dict(environ)
    for key, value in DEFAULTS.items():
        if not env.get(key):
            env[key] = value
    return env


def _python_module(module: str, *args: str) -> list[str]:
    # The same interpreter with -m, so the children run this tree's code.
    return [sys.executable, "-m", module, *args]


def initialise(env: Mapping[str, str]) -> None:
    """Run ``hub-server init``; it leaves an initialised hub alone."""
    result = subprocess.run(
        _python_module("hub_server", "init"),
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise DevRunError(result.stderr.strip() or "hub-server init failed")
    print(result.stdout.strip(), flush=True)


class Children:
    """The hub and the bridge, started and stopped together."""

    def __init__(self, env: Mapping[str, str], settings: Settings) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.processes["hub-server"] = subprocess.Popen(
            _python_module("hub_server", "serve"), env=env
        )
        bridge_env = {**env, "HUB_ADDRESS": settings.listen}
        # Not -m: its loggers would be named __main__ instead of the module's.
        self.processes["hub-bridge"] = subprocess.Popen(
            [sys.executable, "-c", "from hub_client.bridge import main; main()"],
            env=bridge_env,
        )

    def exited(self) -> str | None:
        """The name of a child that has exited, if one has."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited with status {process.returncode}"
        return None

    def stop(self) -> bool:
        """SIGTERM both, wait for them; True when both exited cleanly."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        clean = True
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            try:
                code = process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            # A child that saw the terminal's Ctrl-C itself exits cleanly too.
            clean = clean and code in (0, -signal.SIGINT, -signal.SIGTERM)
        return clean


def _hub_serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _bridge_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(
    children: Children, settings: Settings, bridge_url: str, stopping: threading.Event
) -> None:
    """Return once the hub answers SERVING and the bridge's /healthz answers 200."""
    deadline = time.monotonic() + START_TIMEOUT
    while not (_hub_serving(settings.listen) and _bridge_healthy(bridge_url)):
        failure = children.exited()
        if failure is not None:
            raise DevRunError(failure)
        if stopping.is_set():
            raise DevRunError("stopped before the hub was ready")
        if time.monotonic() > deadline:
            raise DevRunError(f"not healthy after {START_TIMEOUT:.0f}s")
        time.sleep(0.2)


def provision(client: HubClient, zones: list[str]) -> list[str]:
    """An ``embedded`` credential and a ``**.<zone>`` config for each zone.

    Configs that exist are left as they are, so a second run changes nothing.
    Returns the rules created.
    """
    configs = client.challenges.ListManagedChallenges(
        challenge_pb2.ListManagedChallengesRequest(page_size=1000)
    ).managed_challenges
    rules = {config.domain_match_rule for config in configs}
    missing = [f"**.{zone}" for zone in zones if f"**.{zone}" not in rules]
    if not missing:
        return []

    stored = client.credentials.ListStoredCredentials(
        credential_pb2.ListStoredCredentialsRequest(page_size=1000)
    ).stored_credentials
    embedded = [c.id for c in stored if c.provider_type == "embedded"]
    credential_id = embedded[0] if embedded else _create_credential(client)

    for rule in missing:
        client.challenges.CreateManagedChallenge(
            challenge_pb2.CreateManagedChallengeRequest(
                managed_challenge=challenge_pb2.ManagedChallenge(
                    title=f"{rule} on the embedded DNS server",
                    challenge_type="dns-01",
                    credential_id=credential_id,
                    domain_match_rule=rule,
                )
            )
        )
    return missing


def _create_credential(client: HubClient) -> str:
    created = client.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title=CREDENTIAL_TITLE, provider_type="embedded"
        )
    )
    return str(created.id)


def example_value() -> str:
    """A well-formed dns-01 value: unpadded base64url of a SHA-256 digest."""
    digest = hashlib.sha256(secrets.token_bytes(32)).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def usage(settings: Settings, bridge_url: str, created: list[str]) -> str:
    """How to use the running hub; names the credentials file, never the secret."""
    profile = settings.admin_credentials_file.resolve()
    zone = settings.embedded_dns_zones[0]
    dns_host, dns_port = settings.embedded_dns_listen.rsplit(":", 1)
    hubctl = _shown(Path(sys.executable).parent / "hubctl")
    lines = [
        "",
        f"Hub (gRPC):       {settings.listen}",
        f"Embedded DNS:     {settings.embedded_dns_listen} serving "
        + ", ".join(settings.embedded_dns_zones),
        f"REST bridge:      {bridge_url} (health: {bridge_url}/healthz)",
        f"Admin credentials (mode 0600, keep private): {profile}",
    ]
    if created:
        lines.append("Created managed challenges: " + ", ".join(created))
    lines += [
        "",
        "Use it from another shell:",
        f"  export HUB_PROFILE={shlex.quote(str(profile))}",
        f"  export HUB_ADDRESS={settings.listen}",
        f"  {hubctl} whoami",
        f"  {hubctl} present www.{zone} --value {example_value()} --wait",
        f"  dig @{dns_host} -p {dns_port} TXT _acme-challenge.www.{zone}",
        "",
        "Challenge Hub is ready. Ctrl-C stops it.",
    ]
    return "\n".join(lines)


def _admin_client(settings: Settings) -> HubClient:
    path = settings.admin_credentials_file
    try:
        profile = json.loads(path.read_text())
        credentials = Credentials(profile["client_id"], profile["client_secret"])
    except (OSError, ValueError, KeyError) as exc:
        # init never writes the file twice, so a lost one cannot come back.
        raise DevRunError(
            f"cannot read the administrator credentials {path}; remove "
            f"{settings.data_dir} to start a new hub"
        ) from exc
    return HubClient(settings.listen, credentials)


def address_in_use(address: str, kinds: tuple[int, ...]) -> bool:
    """Whether something on this host already holds ``address`` (HOST:PORT)."""
    host, _, port = address.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in kinds:
        with socket.socket(family, kind) as probe:
            try:
                probe.bind((host.strip("[]"), int(port)))
            except OSError:
                return True
    return False


def check_addresses_free(settings: Settings, bridge_listen: str) -> None:
    """Refuse to start when a hub (or anything else) holds one of our addresses."""
    wanted: list[tuple[str, str, tuple[int, ...]]] = [
        ("HUB_LISTEN", settings.listen, (socket.SOCK_STREAM,)),
        ("HUB_BRIDGE_LISTEN", bridge_listen, (socket.SOCK_STREAM,)),
    ]
    if settings.embedded_dns_listen:
        wanted.append(
            (
                "HUB_EMBEDDED_DNS_LISTEN",
                settings.embedded_dns_listen,
                (socket.SOCK_DGRAM, socket.SOCK_STREAM),
            )
        )
    for variable, address, kinds in wanted:
        if address_in_use(address, kinds):
            raise DevRunError(
                f"{address} is in use (is a hub already running?); stop it, or set "
                f"{variable} to another address"
            )


def run(environ: Mapping[str, str]) -> int:
    """Start everything, print how to use it, and run until SIGINT or SIGTERM."""
    env = child_environment(environ)
    try:
        settings = load_settings(None, env)
    except ConfigError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    if settings.tls_cert:
        print("make run: runs without TLS; unset HUB_TLS_CERT", file=sys.stderr)
        return 2
    bridge_url = f"http://{env['HUB_BRIDGE_LISTEN']}"

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        check_addresses_free(settings, env["HUB_BRIDGE_LISTEN"])
        initialise(env)
    except DevRunError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    children = Children(env, settings)
    try:
        wait_healthy(children, settings, bridge_url, stopping)
        try:
            with _admin_client(settings) as client:
                created = provision(client, settings.embedded_dns_zones)
        except HubClientError as exc:
            raise DevRunError(f"setting up the demo zone failed: {exc}") from exc
        print(usage(settings, bridge_url, created), flush=True)
        while not stopping.wait(0.5):
            failure = children.exited()
            if failure is not None:
                raise DevRunError(failure)
    except DevRunError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        children.stop()
        return 1
    except BaseException:
        children.stop()
        raise
    print("stopping", flush=True)
    return 0 if children.stop() else 1


def main() -> None:
    """Entry point of ``python -m hub_server.devrun``."""
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
