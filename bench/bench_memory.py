"""Resident memory of the hub process, idle and with a large database in use.

The hub starts on an empty SQLite database and its VmRSS is read once it is
idle. Then this process inserts records (each with an operation), tokens and
configs straight into the hub's database through the storage models, and drives
calls that read them: WhoAmI with many tokens, pages of records, tokens and
configs, config resolution, and new challenges. VmRSS is read again afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.common import Row, embedded_config, rss_kib, txt_value
from hub_client.client import Credentials
from hub_client.hub.v1 import challenge_pb2, token_pb2
from hub_server.auth import hash_secret, new_secret
from hub_server.rules import parse_rule
from storage import models
from storage.database import open_database
from tests.servers.hub import HubServer

RECORDS = 100_000
TOKENS = 10_000
CONFIGS = 1_000
BATCH = 2000
# Tokens the workload authenticates with; each costs one full hash check.
TOKENS_USED = 20


def _insert(
    model: type[models.BaseModel], rows: Sequence[Mapping[str, object]]
) -> None:
    with models.database_proxy.atomic():
        for start in range(0, len(rows), BATCH):
            model.insert_many(rows[start : start + BATCH]).execute()


def fill(database_url: str, records: int, tokens: int, configs: int) -> list[str]:
    """Insert the rows; returns the client ids of the tokens, all with one secret.

    Hashing is slow on purpose, so every token shares one hash of one secret:
    the rows are as large as real ones.
    """
    database = open_database(database_url)
    try:
        secret = new_secret()
        secret_hash = hash_secret(secret)
        principal = models.Principal.create(
            id=models.new_id("p"), type="application", title="bench"
        )
        models.RoleAssignment.create(
            id=models.new_id("ra"),
            principal=principal.id,
            role_id="managed-challenge-consumer",
        )
        client_ids = [f"hub_bench{number:011d}" for number in range(tokens)]
        _insert(
            models.Token,
            [
                {
                    "id": f"t-bench{number}",
                    "client_id": client_id,
                    "secret_hash": secret_hash,
                    "principal": principal.id,
                    "title": f"bench token {number}",
                    "scope": "managed-challenge-consumer",
                }
                for number, client_id in enumerate(client_ids)
            ],
        )
        credential = models.StoredCredential.create(
            id=models.new_id("c"), title="bench", provider_type="embedded"
        )
        config_rows, entry_rows = [], []
        for number in range(configs):
            rule = parse_rule(f"c{number}.demo.test; *.c{number}.demo.test")
            config_rows.append(
                {
                    "id": f"mc-bench{number}",
                    "title": f"bench config {number}",
                    "credential": credential.id,
                    "domain_match_rule": str(rule),
                }
            )
            entry_rows += [
                {"entry": str(e), "config": f"mc-bench{number}"} for e in rule.entries
            ]
        _insert(models.ManagedChallengeConfig, config_rows)
        _insert(models.RuleEntry, entry_rows)
        record_rows, operation_rows = [], []
        for number in range(records):
            identifier = f"r{number}.c{number % configs}.demo.test"
            record_rows.append(
                {
                    "id": f"r-bench{number}",
                    "identifier": identifier,
                    "validation_name": f"_acme-challenge.{identifier}",
                    "zone": "demo.test",
                    "value": txt_value(identifier),
                    "config_id": f"mc-bench{number % configs}",
                    "credential_id": credential.id,
                    "principal_id": principal.id,
                    "client_id": client_ids[number % tokens],
                }
            )
            operation_rows.append(
                {
                    "id": f"op-bench{number}",
                    "record": f"r-bench{number}",
                    "state": "ready",
                    "requested_ttl": 60,
                    "ttl": 60,
                }
            )
        _insert(models.ChallengeRecord, record_rows)
        _insert(models.Operation, operation_rows)
    finally:
        database.close()
    return [f"{client_id}:{secret}" for client_id in client_ids]


def workload(hub: HubServer, tokens: list[str]) -> None:
    """Calls that read the inserted rows and add a few of their own."""
    used = tokens[:: max(1, len(tokens) // TOKENS_USED)][:TOKENS_USED]
    for position, pair in enumerate(used):
        client_id, _, secret = pair.partition(":")
        with hub.client(Credentials(client_id, secret)) as client:
            client.tokens.WhoAmI(token_pb2.WhoAmIRequest())
            for number in range(5):
                identifier = f"new{number}.t{position}.demo.test"
                client.challenges.PerformChallenge(
                    challenge_pb2.PerformChallengeRequest(
                        identifier=identifier, value=txt_value(identifier)
                    )
                )
    with hub.client() as admin:
        for method, request, field in (
            ("ListRecords", challenge_pb2.ListRecordsRequest, "records"),
            (
                "ListManagedChallenges",
                challenge_pb2.ListManagedChallengesRequest,
                "managed_challenges",
            ),
        ):
            token = ""
            for _ in range(10):
                page = getattr(admin.challenges, method)(
                    request(page_size=1000, page_token=token)
                )
                token = page.next_page_token
                if not getattr(page, field) or not token:
                    break
        token = ""
        for _ in range(10):
            page = admin.tokens.ListTokens(
                token_pb2.ListTokensRequest(page_size=1000, page_token=token)
            )
            token = page.next_page_token
            if not token:
                break
        for number in range(0, 1000, 10):
            admin.challenges.ResolveManagedChallenge(
                challenge_pb2.ResolveManagedChallengeRequest(
                    identifier=f"www.c{number}.demo.test"
                )
            )


def run(
    records: int = RECORDS, tokens: int = TOKENS, configs: int = CONFIGS
) -> list[Row]:
    """VmRSS of the hub idle, then with the rows inserted and read."""
    # The sweeper runs every second, so it also walks the inserted rows.
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        HubServer(Path(tmp) / "hub", env={"HUB_SWEEP_INTERVAL": "1"}) as hub,
    ):
        assert hub.process is not None
        with hub.client() as admin:
            embedded_config(admin, "**.demo.test")
        time.sleep(2)
        idle = rss_kib(hub.process.pid)

        database_url = f"sqlite:///{hub.workdir / 'var' / 'hub.db'}"
        secrets = fill(database_url, records, tokens, configs)
        workload(hub, secrets)
        time.sleep(2)
        loaded = rss_kib(hub.process.pid)

    return [
        Row(
            f"9 hub RSS, {records:,} records, {tokens:,} tokens, {configs:,} configs",
            loaded / 1024,
            idle / 1024,
            "MiB",
            "idle, empty database",
            "report",
            None,
        )
    ]
