"""ChallengeService: managed challenge configs and the records they publish."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import peewee as pw
from google.protobuf import empty_pb2

from hub_client.hub.v1 import challenge_pb2 as pb
from hub_client.hub.v1 import challenge_pb2_grpc
from hub_server import audit
from hub_server import operations as ops
from hub_server.auth import Caller
from hub_server.errors import (
    ConflictError,
    FailedPreconditionError,
    PermissionDeniedError,
    ValidationError,
)
from hub_server.interceptor import current_caller, status_only_call
from hub_server.names import (
    ACME_CHALLENGE_PREFIX,
    check_record_name,
    check_txt_value,
    normalize_name,
    validation_name,
)
from hub_server.rules import RuleIndex, candidate_entries, parse_rule
from hub_server.runtime import blocking
from hub_server.services.common import check_id, check_text, mask_paths, page, timestamp
from hub_server.services.credentials import get_credential_row
from providers.base import Nameserver
from providers.errors import ProviderError
from providers.propagation import follow_cname
from storage import models
from storage.errors import NotFoundError

if TYPE_CHECKING:
    from hub_server.app import Hub

_STATES = {
    ops.PRESENTING: pb.OPERATION_STATE_PRESENTING,
    ops.PROPAGATING: pb.OPERATION_STATE_PROPAGATING,
    ops.READY: pb.OPERATION_STATE_READY,
    ops.FAILED: pb.OPERATION_STATE_FAILED,
    ops.CLEANED: pb.OPERATION_STATE_CLEANED,
}
_STATE_NAMES = {value: name for name, value in _STATES.items()}
MAX_TTL = 86400
MAX_TIMEOUT = 3600


def config_message(row: models.ManagedChallengeConfig) -> pb.ManagedChallenge:
    return pb.ManagedChallenge(
        id=row.id,
        title=row.title,
        description=row.description,
        challenge_type=row.challenge_type,
        credential_id=row.credential_id,
        domain_match_rule=row.domain_match_rule,
        ttl=row.ttl,
        propagation=pb.PropagationSettings(
            skip_check=row.skip_propagation_check,
            timeout_seconds=row.propagation_timeout,
            nameservers=row.nameservers.split(),
        ),
        follow_cname=row.follow_cname,
        max_record_age_seconds=row.max_record_age,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def operation_message(
    operation: models.Operation, record: models.ChallengeRecord | None = None
) -> pb.Operation:
    record = record or operation.record
    return pb.Operation(
        id=operation.id,
        state=_STATES.get(operation.state, pb.OPERATION_STATE_UNSPECIFIED),
        identifier=record.identifier,
        validation_name=record.validation_name,
        zone=record.zone,
        record_id=record.id,
        managed_challenge_id=record.config_id,
        requested_ttl=operation.requested_ttl,
        ttl=operation.ttl,
        servers=operation.servers.split(),
        servers_pending=operation.servers_pending.split(),
        reason=operation.reason,
        create_time=timestamp(operation.created_at),
        update_time=timestamp(operation.updated_at),
    )


def status_only_message(operation: models.Operation) -> pb.Operation:
    """What an anonymous status poll may see: the state and times, no names."""
    return pb.Operation(
        id=operation.id,
        state=_STATES.get(operation.state, pb.OPERATION_STATE_UNSPECIFIED),
        reason=operation.reason if operation.state == ops.FAILED else "",
        create_time=timestamp(operation.created_at),
        update_time=timestamp(operation.updated_at),
    )


def record_message(
    record: models.ChallengeRecord, operation: models.Operation | None
) -> pb.ChallengeRecord:
    age = (models.utcnow() - record.created_at).total_seconds()
    return pb.ChallengeRecord(
        id=record.id,
        identifier=record.identifier,
        validation_name=record.validation_name,
        zone=record.zone,
        value=record.value,
        managed_challenge_id=record.config_id,
        principal_id=record.principal_id,
        client_id=record.client_id,
        state=_STATES.get(operation.state, 0) if operation else 0,  # type: ignore[arg-type]
        operation_id=operation.id if operation else "",
        create_time=timestamp(record.created_at),
        age_seconds=int(age),
    )


def get_config_row(config_id: str, field: str = "id") -> models.ManagedChallengeConfig:
    config_id = check_id(field, config_id)
    row = models.ManagedChallengeConfig.get_or_none(
        models.ManagedChallengeConfig.id == config_id
    )
    if row is None:
        raise NotFoundError("managed challenge config", config_id)
    return row


def match_config(
    identifier: str,
) -> tuple[models.ManagedChallengeConfig, str, str] | None:
    """The config whose rule serves ``identifier`` best, the entry and its kind.

    One indexed query for the entries that could match, whatever the number of
    configs; the precedence is decided among those few.
    """
    candidates = candidate_entries(identifier)
    entries = list(
        models.RuleEntry.select(models.RuleEntry, models.ManagedChallengeConfig)
        .join(models.ManagedChallengeConfig)
        .where(models.RuleEntry.entry.in_(candidates))
    )
    if not entries:
        return None
    index: RuleIndex[str] = RuleIndex()
    configs = {}
    for entry in entries:
        config = entry.config
        if config.id not in configs:
            configs[config.id] = config
            index.add(
                config.id, parse_rule(config.domain_match_rule), allow_duplicates=True
            )
    match = index.best_match(identifier)
    if match is None:
        return None
    return configs[match.config_id], str(match.entry), match.kind.value


def _check_config_fields(
    given: pb.ManagedChallenge, paths: set[str], row: models.ManagedChallengeConfig
) -> list[str]:
    """Apply the fields named in ``paths`` to ``row``; return the rule's entries."""
    prefix = "managed_challenge."
    if "title" in paths:
        row.title = check_text(prefix + "title", given.title, required=True, limit=200)
    if "description" in paths:
        row.description = check_text(
            prefix + "description", given.description, required=False, limit=2000
        )
    if "challenge_type" in paths:
        kind = given.challenge_type.strip().lower() or "dns-01"
        if kind != "dns-01":
            raise ValidationError(
                prefix + "challenge_type",
                f"only 'dns-01' is supported, not {given.challenge_type!r}",
            )
        row.challenge_type = kind
    if "credential_id" in paths:
        row.credential_id = get_credential_row(
            given.credential_id, prefix + "credential_id"
        ).id
    if "domain_match_rule" in paths:
        row.domain_match_rule = str(
            parse_rule(given.domain_match_rule, prefix + "domain_match_rule")
        )
    if "ttl" in paths:
        if not 0 <= given.ttl <= MAX_TTL:
            raise ValidationError(prefix + "ttl", f"must be 0-{MAX_TTL} seconds")
        row.ttl = given.ttl or ops.DEFAULT_TTL
    if "propagation" in paths:
        settings = given.propagation
        if not 0 <= settings.timeout_seconds <= MAX_TIMEOUT:
            raise ValidationError(
                prefix + "propagation.timeout_seconds", f"must be 0-{MAX_TIMEOUT}"
            )
        servers = []
        for text in settings.nameservers:
            try:
                server = Nameserver.parse(text)
                # The checker queries addresses as given: a host name would fail
                # at every check instead of here.
                ipaddress.ip_address(server.host)
                servers.append(str(server))
            except ValueError:
                raise ValidationError(
                    prefix + "propagation.nameservers",
                    f"{text!r} is not IP:PORT (an IP address, port optional)",
                ) from None
        row.skip_propagation_check = settings.skip_check
        row.propagation_timeout = settings.timeout_seconds
        row.nameservers = " ".join(servers)
    if "follow_cname" in paths:
        row.follow_cname = given.follow_cname
    if "max_record_age_seconds" in paths:
        if not 0 <= given.max_record_age_seconds <= 30 * 86400:
            raise ValidationError(
                prefix + "max_record_age_seconds", "must be 0-2592000"
            )
        row.max_record_age = given.max_record_age_seconds
    return [str(e) for e in parse_rule(row.domain_match_rule).entries]


def _save_config(
    row: models.ManagedChallengeConfig, entries: list[str], *, create: bool
) -> None:
    """Save a config and its rule entries; a duplicate entry names the other config."""
    clash = (
        models.RuleEntry.select()
        .where(
            models.RuleEntry.entry.in_(entries) & (models.RuleEntry.config != row.id)
        )
        .first()
    )
    if clash is not None:
        raise ConflictError(
            f"domain match rule entry {clash.entry!r} is already used by managed "
            f"challenge config {clash.config_id}"
        )
    try:
        with models.database_proxy.atomic():
            row.save(force_insert=create)
            models.RuleEntry.delete().where(models.RuleEntry.config == row.id).execute()
            models.RuleEntry.insert_many(
                [{"entry": e, "config": row.id} for e in entries]
            ).execute()
    except pw.IntegrityError:
        raise ConflictError(
            "another managed challenge config took one of these rule entries at the "
            "same moment; list the configs and retry"
        ) from None


CONFIG_PATHS = (
    "title",
    "description",
    "challenge_type",
    "credential_id",
    "domain_match_rule",
    "ttl",
    "propagation",
    "follow_cname",
    "max_record_age_seconds",
)


class ChallengeService(challenge_pb2_grpc.ChallengeServiceServicer):
    """Publishes dns-01 values for allowed names and manages the configs behind them."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.engine = ops.OperationEngine(hub)

    # -- configs -------------------------------------------------------------

    async def CreateManagedChallenge(
        self, request: pb.CreateManagedChallengeRequest, context: Any
    ) -> pb.ManagedChallenge:
        def run() -> pb.ManagedChallenge:
            given = request.managed_challenge
            row = models.ManagedChallengeConfig(id=models.new_id("mc"))
            required = {"title", "credential_id", "domain_match_rule"}
            for name in sorted(required):
                if not getattr(given, name).strip():
                    raise ValidationError(f"managed_challenge.{name}", "is required")
            entries = _check_config_fields(given, set(CONFIG_PATHS), row)
            audit.note(target=row.id)
            _save_config(row, entries, create=True)
            return config_message(row)

        return await blocking(run)

    async def GetManagedChallenge(
        self, request: pb.GetManagedChallengeRequest, context: Any
    ) -> pb.ManagedChallenge:
        return await blocking(lambda: config_message(get_config_row(request.id)))

    async def ListManagedChallenges(
        self, request: pb.ListManagedChallengesRequest, context: Any
    ) -> pb.ListManagedChallengesResponse:
        def run() -> pb.ListManagedChallengesResponse:
            query = models.ManagedChallengeConfig.select().order_by(
                models.ManagedChallengeConfig.created_at,
                models.ManagedChallengeConfig.id,
            )
            rows, token = page(query, request.page_size, request.page_token)
            return pb.ListManagedChallengesResponse(
                managed_challenges=[config_message(r) for r in rows],
                next_page_token=token,
            )

        return await blocking(run)

    async def UpdateManagedChallenge(
        self, request: pb.UpdateManagedChallengeRequest, context: Any
    ) -> pb.ManagedChallenge:
        def run() -> pb.ManagedChallenge:
            paths = mask_paths(request.update_mask, CONFIG_PATHS)
            row = get_config_row(request.managed_challenge.id, "managed_challenge.id")
            audit.note(target=row.id)
            entries = _check_config_fields(request.managed_challenge, paths, row)
            row.updated_at = models.utcnow()
            _save_config(row, entries, create=False)
            return config_message(row)

        return await blocking(run)

    async def DeleteManagedChallenge(
        self, request: pb.DeleteManagedChallengeRequest, context: Any
    ) -> empty_pb2.Empty:
        def run() -> empty_pb2.Empty:
            row = get_config_row(request.id)
            audit.note(target=row.id)
            row.delete_instance(recursive=True)
            return empty_pb2.Empty()

        return await blocking(run)

    async def ResolveManagedChallenge(
        self, request: pb.ResolveManagedChallengeRequest, context: Any
    ) -> pb.ResolveManagedChallengeResponse:
        identifier = normalize_name(request.identifier)
        caller = current_caller()
        response = pb.ResolveManagedChallengeResponse(
            identifier=identifier, validation_name=validation_name(identifier)
        )
        if not caller.allows_name("challenge.request", identifier):
            response.explanation = (
                f"{identifier} is outside this token's domain restrictions; no config "
                "would serve it for this caller"
            )
            return response
        found = await blocking(match_config, identifier)
        if found is None:
            response.explanation = (
                f"no managed challenge config's rule matches {identifier}"
            )
            return response
        config, entry, kind = found
        response.found = True
        response.managed_challenge.CopyFrom(config_message(config))
        response.matched_entry = entry
        response.explanation = (
            f"config {config.id} ({config.title}) matches through entry "
            f"{entry!r} ({kind})"
        )
        return response

    # -- records and operations ---------------------------------------------

    async def PerformChallenge(
        self, request: pb.PerformChallengeRequest, context: Any
    ) -> pb.Operation:
        identifier = normalize_name(request.identifier)
        audit.note(name=identifier)
        value = check_txt_value(request.value)
        base_name = validation_name(identifier)
        caller = current_caller()
        caller.require_name("challenge.request", identifier)
        found = await blocking(match_config, identifier)
        if found is None:
            raise FailedPreconditionError(
                f"no managed challenge config serves {identifier}; ask an "
                "administrator "
                "to add one whose domain match rule covers it"
            )
        config = found[0]
        target = await self._target_name(config, base_name)
        if target != base_name:
            _check_cname_target(caller, identifier, target)
        if request.record_name.strip():
            check_record_name(identifier, request.record_name, (target,))
        operation, record, work = await blocking(
            self._create, identifier, target, value, config, caller
        )
        audit.note(target=operation.id)
        if work is not None:
            self.engine.start(operation.id, work)
        if request.wait:
            operation = await self.engine.wait_final(operation.id)
            # The zone is found while presenting: the record read before is stale.
            return await blocking(operation_message, operation)
        return operation_message(operation, record)

    async def _target_name(
        self, config: models.ManagedChallengeConfig, name: str
    ) -> str:
        if not config.follow_cname:
            return name
        try:
            return await follow_cname(name, self.hub.provider_context.resolvers)
        except ProviderError as exc:
            raise FailedPreconditionError(
                f"cannot follow a CNAME at {name}: {exc.message}"
            ) from None

    def _create(
        self,
        identifier: str,
        name: str,
        value: str,
        config: models.ManagedChallengeConfig,
        caller: Caller,
    ) -> tuple[models.Operation, models.ChallengeRecord, ops.Work | None]:
        """Store the record and its operation before any DNS change.

        A live record for the same identifier and value is reused with its
        operation, which the hub running it moves on (or the sweeper, if that
        hub stopped). A new operation comes with the rows its task needs.
        """
        with models.database_proxy.atomic():
            record = (
                models.ChallengeRecord.select()
                .where(
                    (models.ChallengeRecord.validation_name == name)
                    & (models.ChallengeRecord.value == value)
                    & (models.ChallengeRecord.identifier == identifier)
                    & (models.ChallengeRecord.principal_id == caller.principal_id)
                    & (models.ChallengeRecord.active == True)  # noqa: E712
                )
                .first()
            )
            if record is not None:
                latest = ops.latest_operation(record.id)
                if latest is not None and latest.state != ops.FAILED:
                    return latest, record, None
            else:
                record = models.ChallengeRecord.create(
                    id=models.new_id("r"),
                    identifier=identifier,
                    validation_name=name,
                    value=value,
                    config_id=config.id,
                    credential_id=config.credential_id,
                    principal_id=caller.principal_id,
                    client_id=caller.client_id,
                )
            operation = models.Operation.create(
                # 128 random bits: the id doubles as the handle of an anonymous
                # status poll, so it must not be guessable. Base64url keeps it
                # within the 32 characters of the id column (PostgreSQL enforces).
                id=f"op-{secrets.token_urlsafe(16)}",
                record=record.id,
                state=ops.PRESENTING,
                requested_ttl=config.ttl,
            )
        credential = models.StoredCredential.get_by_id(config.credential_id)
        return operation, record, ops.Work(operation, record, config, credential)

    async def GetOperation(
        self, request: pb.GetOperationRequest, context: Any
    ) -> pb.Operation:
        operation_id = check_id("id", request.id)
        if status_only_call():
            operation = await blocking(ops.get_operation, operation_id)
            return status_only_message(operation)
        operation = await blocking(_visible_operation, operation_id, current_caller())
        return operation_message(operation)

    async def WatchOperation(
        self, request: pb.WatchOperationRequest, context: Any
    ) -> AsyncIterator[pb.Operation]:
        operation_id = check_id("id", request.id)
        await blocking(_visible_operation, operation_id, current_caller())
        last = None
        while True:
            changed = self.engine.watch(operation_id)
            operation = await blocking(ops.get_operation, operation_id)
            message = await blocking(operation_message, operation)
            if message != last:
                yield message
                last = message
            if operation.state in ops.FINAL:
                self.engine.forget(operation_id)
                return
            await self.engine.wait_change(changed, 1.0)

    async def CleanupChallenge(
        self, request: pb.CleanupChallengeRequest, context: Any
    ) -> pb.CleanupChallengeResponse:
        identifier = normalize_name(request.identifier)
        audit.note(name=identifier)
        value = check_txt_value(request.value)
        current_caller().require_name("challenge.cleanup", identifier)
        records = await blocking(
            _active_records, identifier, value, current_caller().principal_id
        )
        if request.record_name.strip():
            allowed = tuple(r.validation_name for r in records)
            check_record_name(identifier, request.record_name, allowed)
        response = pb.CleanupChallengeResponse()
        for record in records:
            operation = await self.engine.remove_record(record, "removed by cleanup")
            response.removed = True
            if operation is not None:
                response.operation.CopyFrom(operation_message(operation, record))
        return response

    async def ListRecords(
        self, request: pb.ListRecordsRequest, context: Any
    ) -> pb.ListRecordsResponse:
        def run() -> pb.ListRecordsResponse:
            record = models.ChallengeRecord
            query = (
                record.select()
                .where(record.active == True)  # noqa: E712
                .order_by(record.created_at, record.id)
            )  # noqa: E712
            if request.name.strip():
                name = normalize_name(request.name, "name", allow_underscore=True)
                query = query.where(
                    (record.identifier == name) | (record.validation_name == name)
                )
            if request.principal_id:
                query = query.where(
                    record.principal_id
                    == check_id("principal_id", request.principal_id)
                )
            if request.state:
                state = _STATE_NAMES.get(request.state)
                if state is None:
                    raise ValidationError("state", "is not a known operation state")
                latest = models.Operation.select(
                    pw.fn.MAX(models.Operation.created_at)
                ).where(models.Operation.record == record.id)
                query = query.join(models.Operation).where(
                    (models.Operation.state == state)
                    & (models.Operation.created_at == latest)
                )
            rows, token = page(query, request.page_size, request.page_token)
            return pb.ListRecordsResponse(
                records=[record_message(r, ops.latest_operation(r.id)) for r in rows],
                next_page_token=token,
            )

        return await blocking(run)


def _check_cname_target(caller: Caller, identifier: str, target: str) -> None:
    """Refuse a CNAME target that is another name's validation name the caller
    may not use: following it would prove control of that other name.
    """
    prefix = ACME_CHALLENGE_PREFIX
    if not target.startswith(prefix):
        return
    other = target[len(prefix) :]
    if not caller.allows_name("challenge.request", other):
        raise PermissionDeniedError(
            f"the CNAME at the validation name of {identifier!r} points to "
            f"{target!r}, the validation name of {other!r}, which is outside this "
            "token's domain restrictions",
            action="challenge.request",
            name=other,
        )


def _active_records(
    identifier: str, value: str, principal_id: str
) -> list[models.ChallengeRecord]:
    """The caller's own live records of a value: cleanup never touches others'."""
    return list(
        models.ChallengeRecord.select().where(
            (models.ChallengeRecord.identifier == identifier)
            & (models.ChallengeRecord.value == value)
            & (models.ChallengeRecord.principal_id == principal_id)
            & (models.ChallengeRecord.active == True)  # noqa: E712
        )
    )


def _visible_operation(operation_id: str, caller: Caller) -> models.Operation:
    """The operation, if the caller may see it: its own, or any with challenge.read.

    Another principal's operation is reported as not found, so ids cannot be
    probed.
    """
    operation = ops.get_operation(operation_id)
    if "challenge.read" in caller.actions:
        return operation
    if operation.record.principal_id != caller.principal_id:
        raise NotFoundError("operation", operation_id)
    return operation
