"""A small ACME client that solves dns-01 through the bridge's Certify API.

It behaves like Certify's "Managed Challenge API" DNS provider: ``requestbegin``
for each value, polling ``requeststatus`` without credentials until the value is
served, then ``cleanup`` once the order is done. The ACME side is the ``acme``
library that certbot is built on.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import httpx
import josepy
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub_client.client import Credentials
from tests.servers.pebble import PebbleServer

CERTIFY = "/api/v1/managedchallenge"


class CertifyChallengeClient:
    """Publishes and removes dns-01 values through the Certify API of the bridge."""

    def __init__(self, http: httpx.Client, credentials: Credentials) -> None:
        self.http = http
        self.credentials = credentials
        self.polls = 0

    def _headers(self) -> dict[str, str]:
        return {
            "X-Client-ID": self.credentials.client_id,
            "X-Client-Secret": self.credentials.secret,
        }

    @staticmethod
    def _body(identifier: str, value: str) -> dict[str, str]:
        return {
            "ChallengeType": "dns-01",
            "Identifier": identifier,
            "ResponseKey": f"_acme-challenge.{identifier.removeprefix('*.')}",
            "ResponseValue": value,
        }

    def present(self, identifier: str, value: str, timeout: float = 90) -> None:
        """``requestbegin``, then poll the status URL until the value is served."""
        begun = self.http.post(
            f"{CERTIFY}/requestbegin",
            json=self._body(identifier, value),
            headers=self._headers(),
        )
        if begun.status_code != 202:
            raise RuntimeError(f"requestbegin: {begun.status_code} {begun.text}")
        location = begun.headers["Location"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Certify polls without credentials.
            status: dict[str, Any] = self.http.get(location).raise_for_status().json()
            self.polls += 1
            if status["status"] == "succeeded":
                return
            if status["status"] == "failed":
                raise RuntimeError(f"{identifier}: {status['message']}")
            time.sleep(0.2)
        raise RuntimeError(f"{identifier}: not served after {timeout}s")

    def cleanup(self, identifier: str, value: str) -> None:
        """Remove a value; removing one already gone is fine."""
        answer = self.http.post(
            f"{CERTIFY}/cleanup",
            json=self._body(identifier, value),
            headers=self._headers(),
        )
        if answer.status_code != 200 or not answer.json()["isSuccess"]:
            raise RuntimeError(f"cleanup: {answer.status_code} {answer.text}")


def obtain_certificate(
    pebble: PebbleServer, domains: tuple[str, ...], certify: CertifyChallengeClient
) -> bytes:
    """Order a certificate for ``domains``, solving every dns-01 through Certify."""
    account_key = josepy.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    network = client.ClientNetwork(
        account_key,
        user_agent="challenge-hub-tests",
        # requests takes a CA bundle path where the annotation says bool.
        verify_ssl=str(pebble.ca_file),  # type: ignore[arg-type]
    )
    directory = client.ClientV2.get_directory(pebble.directory_url, network)
    acme = client.ClientV2(directory, network)
    acme.new_account(
        messages.NewRegistration.from_data(
            email="admin@example.com", terms_of_service_agreed=True
        )
    )
    certificate_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    order = acme.new_order(crypto_util.make_csr(certificate_key, list(domains)))

    published: list[tuple[str, str]] = []
    try:
        answers = []
        for authorization in order.authorizations:
            body = authorization.body
            challenge = next(
                c for c in body.challenges if isinstance(c.chall, challenges.DNS01)
            )
            identifier = body.identifier.value
            if body.wildcard:
                identifier = f"*.{identifier}"
            value = challenge.chall.validation(account_key)
            certify.present(identifier, value)
            published.append((identifier, value))
            answers.append((challenge, challenge.chall.response(account_key)))
        for challenge, response in answers:
            acme.answer_challenge(challenge, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=90)
        finished = acme.poll_and_finalize(order, deadline)
    finally:
        for identifier, value in published:
            certify.cleanup(identifier, value)
    return str(finished.fullchain_pem).encode()
