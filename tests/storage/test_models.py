"""Models on a real database: keys, uniqueness, cascades and restrictions."""

from __future__ import annotations

import peewee as pw
import pytest

from storage import models


def _principal(title: str = "web-01") -> models.Principal:
    return models.Principal.create(id=models.new_id("p"), type="app", title=title)


def _token(principal: models.Principal, client_id: str) -> models.Token:
    return models.Token.create(
        id=models.new_id("t"),
        client_id=client_id,
        secret_hash="pbkdf2-sha256$not-a-real-hash",
        principal=principal.id,
        title="deploy",
        scope="managed-challenge-consumer",
    )


def _credential() -> models.StoredCredential:
    return models.StoredCredential.create(
        id=models.new_id("c"), title="BIND", provider_type="rfc2136"
    )


def _config(
    credential: models.StoredCredential, rule: str
) -> models.ManagedChallengeConfig:
    config = models.ManagedChallengeConfig.create(
        id=models.new_id("mc"),
        title=rule,
        credential=credential.id,
        domain_match_rule=rule,
    )
    models.RuleEntry.create(entry=rule, config=config.id)
    return config


def test_rows_round_trip(database: pw.Database) -> None:
    principal = _principal("Build server")
    token = _token(principal, "cid-round-trip")

    loaded = models.Token.get_by_id(token.id)

    assert loaded.principal.title == "Build server"
    assert loaded.scope_role_ids == ["managed-challenge-consumer"]
    assert loaded.revoked_at is None
    assert loaded.created_at <= models.utcnow()
    tokens = models.Token.select().where(models.Token.principal == principal.id)
    assert [t.id for t in tokens] == [token.id]


def test_client_id_is_unique(database: pw.Database) -> None:
    principal = _principal()
    _token(principal, "cid-twice")

    with pytest.raises(pw.IntegrityError), database.atomic():
        _token(principal, "cid-twice")

    assert models.Token.select().count() == 1


def test_rule_entry_is_unique(database: pw.Database) -> None:
    credential = _credential()
    _config(credential, "*.example.com")

    with pytest.raises(pw.IntegrityError), database.atomic():
        _config(credential, "*.example.com")


def test_deleting_a_principal_deletes_its_roles_and_tokens(
    database: pw.Database,
) -> None:
    kept = _principal("kept")
    _token(kept, "cid-kept")
    gone = _principal("gone")
    _token(gone, "cid-gone")
    models.RoleAssignment.create(
        id=models.new_id("ra"), principal=gone.id, role_id="administrator"
    )

    models.Principal.delete().where(models.Principal.id == gone.id).execute()

    assert [t.client_id for t in models.Token.select()] == ["cid-kept"]
    assert models.RoleAssignment.select().count() == 0


def test_deleting_a_config_deletes_its_rule_entries(database: pw.Database) -> None:
    config = _config(_credential(), "**.example.org")

    models.ManagedChallengeConfig.delete().where(
        models.ManagedChallengeConfig.id == config.id
    ).execute()

    assert models.RuleEntry.select().count() == 0


def test_a_credential_in_use_cannot_be_deleted(database: pw.Database) -> None:
    credential = _credential()
    _config(credential, "example.net")
    by_id = models.StoredCredential.id == credential.id

    with pytest.raises(pw.IntegrityError), database.atomic():
        models.StoredCredential.delete().where(by_id).execute()

    assert models.StoredCredential.select().where(by_id).exists()


def test_a_credential_no_config_uses_can_be_deleted(database: pw.Database) -> None:
    credential = _credential()

    models.StoredCredential.delete().where(
        models.StoredCredential.id == credential.id
    ).execute()

    assert models.StoredCredential.select().count() == 0


def test_deleting_a_record_deletes_its_operations(database: pw.Database) -> None:
    record = models.ChallengeRecord.create(
        id=models.new_id("r"),
        identifier="www.example.com",
        validation_name="_acme-challenge.www.example.com",
        value="A" * 43,
    )
    models.Operation.create(id=models.new_id("op"), record=record.id, state="ready")

    models.ChallengeRecord.delete().where(
        models.ChallengeRecord.id == record.id
    ).execute()

    assert models.Operation.select().count() == 0


def test_embedded_values_are_unique_per_name(database: pw.Database) -> None:
    models.EmbeddedTxtRecord.create(name="_acme-challenge.demo.test", value="v1")
    models.EmbeddedTxtRecord.create(name="_acme-challenge.demo.test", value="v2")

    with pytest.raises(pw.IntegrityError), database.atomic():
        models.EmbeddedTxtRecord.create(name="_acme-challenge.demo.test", value="v1")

    assert models.EmbeddedTxtRecord.select().count() == 2
