"""Real ACME clients get certificates from Pebble through the bridge and the hub."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from hub_client.client import Credentials
from tests.bridge.stack import BridgeProcess, acme_txt_values
from tests.e2e.certify_client import CertifyChallengeClient, obtain_certificate
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.pebble import PebbleServer, write_tls_files

DOMAINS = ("example.com", "*.example.com", "www.example.com")
# Where a leftover challenge value would sit for DOMAINS.
VALIDATED = ("example.com", "www.example.com")
BIN = Path(sys.executable).parent


def certificate_names(pem: bytes) -> list[str]:
    """The DNS names of the leaf certificate in ``pem``, sorted."""
    leaf = x509.load_pem_x509_certificates(pem)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(san.value.get_values_for_type(x509.DNSName))


def issued_count(pebble: PebbleServer) -> int:
    """How many certificates Pebble says it issued so far."""
    log = (pebble.ca_file.parent / "pebble.log").read_text(errors="replace")
    return log.count("Issued certificate")


def run_lego(
    workdir: Path,
    pebble: PebbleServer,
    bind: BindServer,
    bridge: BridgeProcess,
    credentials: Credentials,
    domains: tuple[str, ...],
    mode: str = "",
) -> subprocess.CompletedProcess[str]:
    """``lego run`` with the httpreq provider aimed at the bridge."""
    env = {
        **os.environ,
        "LEGO_CA_CERTIFICATES": str(pebble.ca_file),
        "HTTPREQ_ENDPOINT": f"{bridge.url}/httpreq",
        "HTTPREQ_USERNAME": credentials.client_id,
        "HTTPREQ_PASSWORD": credentials.secret,
        "HTTPREQ_POLLING_INTERVAL": "1",
        "HTTPREQ_PROPAGATION_TIMEOUT": "60",
        "HTTPREQ_HTTP_TIMEOUT": "60",
    }
    if mode:
        env["HTTPREQ_MODE"] = mode
    command = [
        "lego",
        "--accept-tos",
        "--email=admin@example.com",
        f"--server={pebble.directory_url}",
        "--dns=httpreq",
        # The hub already waited for every authoritative server; lego would ask
        # the zone's NS records on port 53, where no test server listens.
        "--dns.disable-cp",
        f"--dns.resolvers={bind.server}",
        f"--path={workdir / 'lego'}",
        *(f"--domains={domain}" for domain in domains),
        "run",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("mode", ["", "RAW"], ids=["default", "raw"])
def test_lego_httpreq_gets_a_certificate(
    tmp_path: Path,
    pebble: PebbleServer,
    example_bind: BindServer,
    bridge_process: BridgeProcess,
    consumer: Credentials,
    mode: str,
) -> None:
    result = run_lego(
        tmp_path, pebble, example_bind, bridge_process, consumer, DOMAINS, mode
    )

    assert result.returncode == 0, result.stderr[-3000:] + bridge_process.log_text()
    pem = (tmp_path / "lego" / "certificates" / "example.com.crt").read_bytes()
    assert certificate_names(pem) == sorted(DOMAINS)
    assert acme_txt_values(example_bind, VALIDATED) == {}
    assert example_bind.read_txt("example.com") == {"v=spf1 -all"}


def test_certbot_with_hubctl_hooks_gets_a_certificate(
    tmp_path: Path,
    pebble: PebbleServer,
    example_hub: HubServer,
    example_bind: BindServer,
    consumer: Credentials,
) -> None:
    hubctl = BIN / "hubctl"
    auth_hook = tmp_path / "auth-hook"
    auth_hook.write_text(
        "#!/bin/sh\n"
        f'exec "{hubctl}" present "$CERTBOT_DOMAIN" '
        '--value "$CERTBOT_VALIDATION" --wait\n'
    )
    cleanup_hook = tmp_path / "cleanup-hook"
    cleanup_hook.write_text(
        "#!/bin/sh\n"
        f'exec "{hubctl}" cleanup "$CERTBOT_DOMAIN" --value "$CERTBOT_VALIDATION"\n'
    )
    for hook in (auth_hook, cleanup_hook):
        hook.chmod(0o755)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "HUB_ADDRESS": example_hub.address,
        "HUB_CLIENT_ID": consumer.client_id,
        "HUB_CLIENT_SECRET": consumer.secret,
        "REQUESTS_CA_BUNDLE": str(pebble.ca_file),
    }
    command = [
        str(BIN / "certbot"),
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--email=admin@example.com",
        f"--server={pebble.directory_url}",
        "--manual",
        "--preferred-challenges=dns",
        f"--manual-auth-hook={auth_hook}",
        f"--manual-cleanup-hook={cleanup_hook}",
        f"--config-dir={tmp_path / 'config'}",
        f"--work-dir={tmp_path / 'work'}",
        f"--logs-dir={tmp_path / 'logs'}",
        "--cert-name=e2e",
        *(f"--domain={domain}" for domain in DOMAINS),
    ]

    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    pem = (tmp_path / "config" / "live" / "e2e" / "cert.pem").read_bytes()
    assert certificate_names(pem) == sorted(DOMAINS)
    assert acme_txt_values(example_bind, VALIDATED) == {}


def test_lego_refused_outside_the_token_restriction(
    tmp_path: Path,
    pebble: PebbleServer,
    example_bind: BindServer,
    bridge_process: BridgeProcess,
    www_only_consumer: Credentials,
) -> None:
    issued_before = issued_count(pebble)

    result = run_lego(
        tmp_path,
        pebble,
        example_bind,
        bridge_process,
        www_only_consumer,
        ("api.example.com",),
    )

    assert result.returncode != 0
    assert "403" in result.stderr
    assert "POST /httpreq/present 403" in bridge_process.log_text()
    assert example_bind.read_txt("_acme-challenge.api.example.com") == set()
    assert not (tmp_path / "lego" / "certificates").exists() or not any(
        (tmp_path / "lego" / "certificates").glob("*.crt")
    )
    assert issued_count(pebble) == issued_before


def test_certify_api_client_gets_a_certificate(
    tmp_path: Path,
    pebble: PebbleServer,
    example_bind: BindServer,
    bridge_process: BridgeProcess,
    consumer: Credentials,
) -> None:
    with httpx.Client(base_url=bridge_process.url, timeout=60) as http:
        certify = CertifyChallengeClient(http, consumer)
        pem = obtain_certificate(pebble, DOMAINS, certify)

    assert certificate_names(pem) == sorted(DOMAINS)
    assert certify.polls >= 1
    assert acme_txt_values(example_bind, VALIDATED) == {}


def test_bridge_serves_tls_when_configured(
    tmp_path: Path, example_hub: HubServer
) -> None:
    ca_file, cert_file, key_file = write_tls_files(tmp_path)
    env = {"HUB_BRIDGE_TLS_CERT": str(cert_file), "HUB_BRIDGE_TLS_KEY": str(key_file)}

    with BridgeProcess(example_hub.address, tmp_path, env, scheme="https") as bridge:
        context = ssl.create_default_context(cafile=str(ca_file))
        response = httpx.get(f"{bridge.url}/healthz", verify=context, timeout=5)

    assert bridge.url.startswith("https://")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
