"""CredentialService: stored DNS provider credentials, their secrets write-only."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2

from hub_client.hub.v1 import credential_pb2 as pb
from hub_client.hub.v1 import credential_pb2_grpc
from hub_server import audit
from hub_server.errors import FailedPreconditionError, ValidationError
from hub_server.names import normalize_name
from hub_server.runtime import blocking
from hub_server.services.common import check_id, check_text, mask_paths, page, timestamp
from providers.base import Provider, provider_type, provider_types
from providers.errors import ProviderError
from storage import models
from storage.errors import NotFoundError

if TYPE_CHECKING:
    from hub_server.app import Hub

TEST_TIMEOUT = 20.0


def credential_message(row: models.StoredCredential, hub: Hub) -> pb.StoredCredential:
    """The public view: non-secret parameters and the names of the secret ones."""
    secret_names = sorted(
        name for name, value in hub.secret_box.decrypt(row.secrets).items() if value
    )
    return pb.StoredCredential(
        id=row.id,
        title=row.title,
        description=row.description,
        provider_type=row.provider_type,
        parameters=json.loads(row.parameters),
        secret_parameters_set=secret_names,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def get_credential_row(
    credential_id: str, field: str = "id"
) -> models.StoredCredential:
    credential_id = check_id(field, credential_id)
    row = models.StoredCredential.get_or_none(
        models.StoredCredential.id == credential_id
    )
    if row is None:
        raise NotFoundError("stored credential", credential_id)
    return row


def _split(
    cls: type[Provider], params: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    secret_names = {p.name for p in cls.parameters if p.secret}
    plain = {k: v for k, v in params.items() if k not in secret_names}
    secret = {k: v for k, v in params.items() if k in secret_names}
    return plain, secret


def _validated(cls: type[Provider], params: dict[str, str]) -> dict[str, str]:
    try:
        return cls.validate_parameters(params)
    except ProviderError as exc:
        raise ValidationError("parameters", exc.message) from None


class CredentialService(credential_pb2_grpc.CredentialServiceServicer):
    """Stores provider credentials; secret parameters are encrypted and write-only."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Any
    ) -> pb.ListProvidersResponse:
        types = provider_types()
        return pb.ListProvidersResponse(
            providers=[
                pb.ProviderType(
                    type=name,
                    title=cls.title,
                    parameters=[
                        pb.ProviderParameter(
                            name=p.name,
                            description=p.description,
                            secret=p.secret,
                            required=p.required,
                            default_value=p.default,
                        )
                        for p in cls.parameters
                    ],
                    min_ttl=cls.ttl_range.minimum,
                    max_ttl=cls.ttl_range.maximum,
                )
                for name, cls in sorted(types.items())
            ]
        )

    async def CreateStoredCredential(
        self, request: pb.CreateStoredCredentialRequest, context: Any
    ) -> pb.StoredCredential:
        def run() -> pb.StoredCredential:
            title = check_text("title", request.title, required=True, limit=200)
            description = check_text(
                "description", request.description, required=False, limit=2000
            )
            type_name = check_text(
                "provider_type", request.provider_type, required=True, limit=64
            )
            if type_name not in provider_types():
                raise ValidationError(
                    "provider_type",
                    f"unknown provider {type_name!r}; known: "
                    f"{', '.join(sorted(provider_types()))}",
                )
            cls = provider_type(type_name)
            plain, secret = _split(cls, _validated(cls, dict(request.parameters)))
            row = models.StoredCredential.create(
                id=models.new_id("c"),
                title=title,
                description=description,
                provider_type=type_name,
                parameters=json.dumps(plain, sort_keys=True),
                secrets=self.hub.secret_box.encrypt(secret),
            )
            audit.note(target=row.id)
            return credential_message(row, self.hub)

        return await blocking(run)

    async def ListStoredCredentials(
        self, request: pb.ListStoredCredentialsRequest, context: Any
    ) -> pb.ListStoredCredentialsResponse:
        def run() -> pb.ListStoredCredentialsResponse:
            query = models.StoredCredential.select().order_by(
                models.StoredCredential.created_at, models.StoredCredential.id
            )
            rows, token = page(query, request.page_size, request.page_token)
            return pb.ListStoredCredentialsResponse(
                stored_credentials=[credential_message(r, self.hub) for r in rows],
                next_page_token=token,
            )

        return await blocking(run)

    async def GetStoredCredential(
        self, request: pb.GetStoredCredentialRequest, context: Any
    ) -> pb.StoredCredential:
        return await blocking(
            lambda: credential_message(get_credential_row(request.id), self.hub)
        )

    async def UpdateStoredCredential(
        self, request: pb.UpdateStoredCredentialRequest, context: Any
    ) -> pb.StoredCredential:
        def run() -> pb.StoredCredential:
            paths = mask_paths(
                request.update_mask, ("title", "description", "parameters")
            )
            row = get_credential_row(request.id)
            audit.note(target=row.id)
            if "title" in paths:
                row.title = check_text("title", request.title, required=True, limit=200)
            if "description" in paths:
                row.description = check_text(
                    "description", request.description, required=False, limit=2000
                )
            if "parameters" in paths:
                cls = provider_type(row.provider_type)
                current = {
                    **json.loads(row.parameters),
                    **self.hub.secret_box.decrypt(row.secrets),
                }
                merged = {**current, **dict(request.parameters)}
                plain, secret = _split(cls, _validated(cls, merged))
                row.parameters = json.dumps(plain, sort_keys=True)
                row.secrets = self.hub.secret_box.encrypt(secret)
            row.updated_at = models.utcnow()
            row.save()
            return credential_message(row, self.hub)

        return await blocking(run)

    async def DeleteStoredCredential(
        self, request: pb.DeleteStoredCredentialRequest, context: Any
    ) -> empty_pb2.Empty:
        def run() -> empty_pb2.Empty:
            row = get_credential_row(request.id)
            audit.note(target=row.id)
            users = [
                c.id
                for c in models.ManagedChallengeConfig.select(
                    models.ManagedChallengeConfig.id
                )
                .where(models.ManagedChallengeConfig.credential == row.id)
                .limit(5)
            ]
            if users:
                raise FailedPreconditionError(
                    f"stored credential {row.id} is used by managed challenge "
                    f"config(s) {', '.join(users)}; delete or change them first"
                )
            row.delete_instance()
            return empty_pb2.Empty()

        return await blocking(run)

    async def TestStoredCredential(
        self, request: pb.TestStoredCredentialRequest, context: Any
    ) -> pb.TestStoredCredentialResponse:
        def run() -> pb.TestStoredCredentialResponse:
            row = get_credential_row(request.id)
            audit.note(target=row.id)
            name = (
                normalize_name(request.zone, "zone", allow_wildcard=False)
                if request.zone.strip()
                else ""
            )
            started = time.monotonic()
            provider = self.hub.build_provider(row)
            try:
                if not name:
                    raise ValidationError(
                        "zone", "name a zone or a name inside one to test"
                    )
                zone = provider.find_zone(name)
                ok, message = True, f"the back end serves zone {zone} for {name}"
            except ProviderError as exc:
                zone, ok, message = "", False, exc.message
            finally:
                provider.close()
            return pb.TestStoredCredentialResponse(
                ok=ok,
                zone=zone,
                message=message,
                duration_ms=int((time.monotonic() - started) * 1000),
            )

        return await blocking(run)
