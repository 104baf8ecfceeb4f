"""Let's Encrypt's Pebble test CA, run on loopback with a TLS certificate of our own."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.base import Nameserver
from tests.servers.ports import free_port

PEBBLE = "/usr/bin/pebble"
START_TIMEOUT = 20.0


@dataclass
class PebbleServer:
    """A running Pebble: its ACME directory URL and the root that signed its TLS."""

    directory_url: str
    ca_file: Path
    process: subprocess.Popen[bytes] | None

    def stop(self) -> None:
        """Stop Pebble and wait for it to exit."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """Make a root CA and a loopback server certificate; returns (ca, cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Challenge Hub test root"))
        .issuer_name(_name("Challenge Hub test root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path, cert_path, key_path = (
        workdir / "root.pem",
        workdir / "cert.pem",
        workdir / "key.pem",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def _wait_ready(server: PebbleServer, log_path: Path) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"pebble exited: {log_path.read_text()[-2000:]}")
        try:
            response = httpx.get(server.directory_url, verify=context, timeout=2.0)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"pebble did not start: {log_path.read_text()[-2000:]}")


def start_pebble(
    workdir: Path, dns_server: Nameserver, attempts: int = 3
) -> PebbleServer:
    """Start Pebble, resolving every name (dns-01 included) at ``dns_server``.

    A port taken between choosing and binding it makes Pebble exit; then it is
    started again on fresh ports.
    """
    for attempt in range(attempts):
        try:
            return _start_once(workdir / f"run{attempt}", dns_server)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_once(workdir: Path, dns_server: Nameserver) -> PebbleServer:
    workdir.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = write_tls_files(workdir)
    acme_port = free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(cert_path),
            "privateKey": str(key_path),
            # Only dns-01 is used; these ports just must not clash.
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config))
    env = {
        **os.environ,
        # Validate at once, and do not reject nonces at random: tests stay fast
        # and deterministic.
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
    }

    log_path = workdir / "pebble.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PEBBLE, "-config", str(config_path), "-dnsserver", str(dns_server)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = PebbleServer(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        ca_file=ca_path,
        process=process,
    )
    try:
        _wait_ready(server, log_path)
    except BaseException:
        server.stop()
        raise
    return server
