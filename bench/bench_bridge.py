"""Bridge figures: httpreq throughput against a bare endpoint, lego through the hub.

One run starts BIND9, the hub (RFC 2136 provider), the bridge and Pebble on
loopback, then prints:

- requests per second of ``POST /httpreq/present`` through bridge and hub, and of
  a bare endpoint on the same stack (Starlette on uvicorn, one process each),
  measured with h2load over HTTP/1.1; and their ratio. The same PerformChallenge
  sent straight to the hub over gRPC, at the same concurrency, shows how much of
  the gap is the hub's;
- seconds for lego to get one certificate for example.com, *.example.com and
  www.example.com through bridge and hub, and with lego's own rfc2136 provider
  on the same BIND9 and Pebble; and their ratio.

The present that h2load repeats publishes an already served value, which the hub
answers from its record: the figure is the cost of the HTTP, gRPC and
authentication path, not of DNS updates.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc.aio
import httpx

from hub_client.bridge import key_authorization_digest
from hub_client.client import Credentials
from hub_client.hub.v1 import challenge_pb2, challenge_pb2_grpc
from tests.bridge.stack import (
    BridgeProcess,
    consumer_token,
    hub_env,
    provision_example_com,
    start_example_bind,
)
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.pebble import PebbleServer, start_pebble
from tests.servers.ports import free_port

REQUESTS = 3000
CONNECTIONS = 16
LEGO_ROUNDS = 3
DOMAINS = ("example.com", "*.example.com", "www.example.com")

# The bare endpoint: the same framework and server as the bridge, doing nothing.
BARE_APP = """
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def present(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/httpreq/present", present, methods=["POST"])])
"""


def start_bare_endpoint(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn serving the bare endpoint; returns the process and its base URL."""
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(workdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "bare_app:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{url}/httpreq/present", json={}, timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bare endpoint did not start")


def h2load_rate(url: str, body: Path, headers: dict[str, str]) -> float:
    """Requests per second h2load reached, every request answered 2xx."""
    command = [
        "h2load",
        "--h1",
        f"-n{REQUESTS}",
        f"-c{CONNECTIONS}",
        f"-d{body}",
        *(f"-H{name}: {value}" for name, value in headers.items()),
        url,
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=600
    ).stdout
    status = re.search(r"status codes: (\d+) 2xx", output)
    if status is None or int(status.group(1)) != REQUESTS:
        raise RuntimeError(f"not every request succeeded:\n{output}")
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output)
    if rate is None:
        raise RuntimeError(f"no rate in h2load output:\n{output}")
    return float(rate.group(1))


def lego_seconds(
    workdir: Path, pebble: PebbleServer, bind: BindServer, provider_env: dict[str, str]
) -> float:
    """Seconds one ``lego run`` takes for DOMAINS with the given provider."""
    provider = provider_env.pop("provider")
    env = {
        **os.environ,
        "LEGO_CA_CERTIFICATES": str(pebble.ca_file),
        **provider_env,
    }
    command = [
        "lego",
        "--accept-tos",
        "--email=admin@example.com",
        f"--server={pebble.directory_url}",
        f"--dns={provider}",
        "--dns.disable-cp",
        f"--dns.resolvers={bind.server}",
        f"--path={workdir}",
        *(f"--domains={domain}" for domain in DOMAINS),
        "run",
    ]
    started = time.perf_counter()
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"lego --dns={provider} failed:\n{result.stderr[-2000:]}")
    return elapsed


def httpreq_env(bridge: BridgeProcess, credentials: Credentials) -> dict[str, str]:
    return {
        "provider": "httpreq",
        "HTTPREQ_ENDPOINT": f"{bridge.url}/httpreq",
        "HTTPREQ_USERNAME": credentials.client_id,
        "HTTPREQ_PASSWORD": credentials.secret,
        "HTTPREQ_POLLING_INTERVAL": "1",
        "HTTPREQ_PROPAGATION_TIMEOUT": "60",
        "HTTPREQ_HTTP_TIMEOUT": "60",
    }


def rfc2136_env(bind: BindServer) -> dict[str, str]:
    return {
        "provider": "rfc2136",
        "RFC2136_NAMESERVER": bind.server,
        "RFC2136_TSIG_KEY": bind.tsig_key_name,
        "RFC2136_TSIG_SECRET": bind.tsig_secret,
        # lego passes the algorithm to its DNS library, which wants the dot.
        "RFC2136_TSIG_ALGORITHM": f"{bind.tsig_algorithm}.",
        "RFC2136_POLLING_INTERVAL": "1",
        "RFC2136_PROPAGATION_TIMEOUT": "60",
        "RFC2136_TTL": "60",
        # lego solves rfc2136 challenges one by one, 60 s apart by default; one
        # second keeps the comparison about the update path, not that pause.
        "RFC2136_SEQUENCE_INTERVAL": "1",
    }


def main() -> None:
    """Run both comparisons once and print the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        workdir = Path(tmp)
        bind = start_example_bind()
        try:
            with HubServer(workdir / "hub", env=hub_env(bind)) as hub:
                with hub.client() as admin:
                    provision_example_com(admin, bind)
                    credentials = consumer_token(admin, "bench")
                with BridgeProcess(
                    hub.address, workdir, {"HUB_LOG_LEVEL": "WARNING"}
                ) as bridge:
                    throughput(workdir, bridge, credentials)
                    issuance(workdir, bind, bridge, credentials)
        finally:
            bind.stop()


def throughput(workdir: Path, bridge: BridgeProcess, credentials: Credentials) -> None:
    """Print present requests per second: bridge and hub, bare endpoint, ratio."""
    value = key_authorization_digest("bench")
    body = workdir / "present.json"
    body.write_text(
        json.dumps({"fqdn": "_acme-challenge.www.example.com.", "value": value})
    )
    pair = f"{credentials.client_id}:{credentials.secret}".encode()
    headers = {
        "Authorization": "Basic " + base64.b64encode(pair).decode(),
        "Content-Type": "application/json",
    }
    # Publish once, so every measured request finds the value already served.
    httpx.post(
        f"{bridge.url}/httpreq/present",
        content=body.read_bytes(),
        headers=headers,
        timeout=60,
    ).raise_for_status()

    bare, bare_url = start_bare_endpoint(workdir)
    try:
        bare_rate = h2load_rate(f"{bare_url}/httpreq/present", body, headers)
    finally:
        bare.terminate()
        bare.wait()
    bridge_rate = h2load_rate(f"{bridge.url}/httpreq/present", body, headers)

    print(
        f"httpreq present, {REQUESTS} requests over {CONNECTIONS} connections (h2load)"
    )
    print(f"  bare Starlette endpoint   {bare_rate:10.0f} req/s")
    print(f"  bridge + hub              {bridge_rate:10.0f} req/s")
    print(f"  ratio bridge/bare         {bridge_rate / bare_rate:10.3f}")
    grpc_rate = asyncio.run(direct_grpc_rate(bridge.hub_address, credentials, value))
    print(f"  hub over gRPC, no bridge  {grpc_rate:10.0f} req/s")
    print(f"  ratio bridge/gRPC         {bridge_rate / grpc_rate:10.3f}")


async def direct_grpc_rate(address: str, credentials: Credentials, value: str) -> float:
    """PerformChallenge calls per second straight to the hub, CONNECTIONS at once."""
    request = challenge_pb2.PerformChallengeRequest(
        identifier="www.example.com", value=value, wait=True
    )
    async with grpc.aio.insecure_channel(address) as channel:
        stub = challenge_pb2_grpc.ChallengeServiceStub(channel)

        async def worker(calls: int) -> None:
            for _ in range(calls):
                await stub.PerformChallenge(request, metadata=credentials.metadata())

        started = time.perf_counter()
        await asyncio.gather(
            *(worker(REQUESTS // CONNECTIONS) for _ in range(CONNECTIONS))
        )
        elapsed = time.perf_counter() - started
    return (REQUESTS // CONNECTIONS) * CONNECTIONS / elapsed


def issuance(
    workdir: Path, bind: BindServer, bridge: BridgeProcess, credentials: Credentials
) -> None:
    """Print lego's median issuance time: through the hub, with rfc2136, ratio."""
    pebble = start_pebble(workdir / "pebble", bind.nameserver)
    try:
        through_hub, direct = [], []
        for round_number in range(LEGO_ROUNDS):
            through_hub.append(
                lego_seconds(
                    workdir / f"lego-hub-{round_number}",
                    pebble,
                    bind,
                    httpreq_env(bridge, credentials),
                )
            )
            direct.append(
                lego_seconds(
                    workdir / f"lego-rfc2136-{round_number}",
                    pebble,
                    bind,
                    rfc2136_env(bind),
                )
            )
    finally:
        pebble.stop()

    hub_median, direct_median = (
        statistics.median(through_hub),
        statistics.median(direct),
    )
    print(f"lego run for {', '.join(DOMAINS)} (median of {LEGO_ROUNDS})")
    print(f"  lego rfc2136 on BIND9     {direct_median:10.2f} s")
    print(f"  lego httpreq, bridge+hub  {hub_median:10.2f} s")
    print(f"  ratio hub/rfc2136         {hub_median / direct_median:10.3f}")


if __name__ == "__main__":
    main()
