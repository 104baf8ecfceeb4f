"""Publishing, checking and removing records: operations that survive restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub_server.locks import name_lock
from hub_server.names import ACME_CHALLENGE_PREFIX
from hub_server.runtime import blocking
from providers.base import Nameserver, Provider
from providers.errors import ProviderError
from providers.propagation import PropagationResult, authoritative_for, wait_for_value
from storage import models
from storage.errors import NotFoundError

if TYPE_CHECKING:
    from hub_server.app import Hub

logger = logging.getLogger(__name__)

PRESENTING = "presenting"
PROPAGATING = "propagating"
READY = "ready"
FAILED = "failed"
CLEANED = "cleaned"
IN_FLIGHT = frozenset({PRESENTING, PROPAGATING})
FINAL = frozenset({READY, FAILED, CLEANED})

# An in-flight operation nobody touched for this long lost its hub (a crash, a
# restart): the sweeper of any hub takes it over. Live checks touch it sooner.
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 20.0
DEFAULT_TTL = 60


@dataclass
class Work:
    """Everything one operation needs, loaded in one go."""

    operation: models.Operation
    record: models.ChallengeRecord
    config: models.ManagedChallengeConfig | None
    credential: models.StoredCredential


def load_work(operation_id: str) -> Work:
    operation = models.Operation.get_or_none(models.Operation.id == operation_id)
    if operation is None:
        raise NotFoundError("operation", operation_id)
    record = operation.record
    config = models.ManagedChallengeConfig.get_or_none(
        models.ManagedChallengeConfig.id == record.config_id
    )
    credential = models.StoredCredential.get_or_none(
        models.StoredCredential.id == record.credential_id
    )
    if credential is None:
        raise NotFoundError("stored credential", record.credential_id)
    return Work(operation, record, config, credential)


def update_operation(operation_id: str, **fields: object) -> None:
    fields["updated_at"] = models.utcnow()
    models.Operation.update(**fields).where(
        models.Operation.id == operation_id
    ).execute()


class OperationEngine:
    """Runs operations as asyncio tasks; waiting holds no worker thread.

    State lives in the database: a task only moves an operation forward, and the
    sweeper restarts operations whose hub stopped moving them.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    # -- notifications -------------------------------------------------------

    def _notify(self, operation_id: str) -> None:
        event = self._changed.pop(operation_id, None)
        if event is not None:
            event.set()

    def watch(self, operation_id: str) -> asyncio.Event:
        """An event set at this hub's next change of the operation.

        Take it before reading the operation: a change between the read and
        the wait then still wakes the waiter.
        """
        return self._changed.setdefault(operation_id, asyncio.Event())

    def forget(self, operation_id: str) -> None:
        """Drop the event of an operation that has reached a final state."""
        self._changed.pop(operation_id, None)

    @staticmethod
    async def wait_change(event: asyncio.Event, timeout: float) -> None:
        """Return when ``event`` is set, or after ``timeout``.

        Changes made by other hubs are seen by the caller's next read; the
        timeout bounds how late.
        """
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _set(self, operation_id: str, **fields: object) -> None:
        await blocking(update_operation, operation_id, **fields)
        self._notify(operation_id)

    # -- running -------------------------------------------------------------

    def start(self, operation_id: str, work: Work | None = None) -> None:
        """Move an operation forward in the background; no-op if already running.

        ``work`` holds the rows the caller has just written, saving a read.
        """
        if operation_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(operation_id, work))
        self._tasks[operation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(operation_id, None))

    async def cancel(self, operation_id: str) -> None:
        task = self._tasks.get(operation_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, operation_id: str, work: Work | None) -> None:
        try:
            if work is None:
                work = await blocking(load_work, operation_id)
            if work.operation.state not in IN_FLIGHT:
                return
            provider = await blocking(self.hub.build_provider, work.credential)
            try:
                await self._advance(work, provider)
            finally:
                await blocking(provider.close)
        except asyncio.CancelledError:
            raise
        except ProviderError as exc:
            logger.info("operation %s failed: %s", operation_id, exc.message)
            await self._set(operation_id, state=FAILED, reason=exc.message)
        except Exception:
            logger.exception("operation %s failed unexpectedly", operation_id)
            await self._set(
                operation_id, state=FAILED, reason="internal error; see the hub's log"
            )

    async def _advance(self, work: Work, provider: Provider) -> None:
        operation, record, config = work.operation, work.record, work.config
        written: dict[str, object] = {}
        if operation.state == PRESENTING:
            requested = operation.requested_ttl or DEFAULT_TTL
            try:
                zone, ttl = await blocking(_write_value, provider, record, requested)
            except ProviderError:
                await blocking(_retire_record, record.id)
                raise
            note = ""
            if ttl != requested:
                note = (
                    f"ttl {requested} clamped to {ttl} (the provider accepts "
                    f"{provider.ttl_range.minimum}-{provider.ttl_range.maximum})"
                )
            record.zone = zone
            operation.reason = note
            written = {"state": PROPAGATING, "ttl": ttl, "reason": note}
        if config is not None and config.skip_propagation_check:
            await self._set(operation.id, **{**written, "state": READY})
            return
        servers = await self._servers(record, config, provider)
        await self._set(operation.id, **written, servers=" ".join(map(str, servers)))
        timeout = (
            config.propagation_timeout
            if config is not None and config.propagation_timeout
            else self.hub.settings.propagation_timeout
        )
        pending = ""

        async def progress(result: PropagationResult) -> None:
            nonlocal pending
            missing = " ".join(map(str, result.missing))
            if missing != pending:
                pending = missing
                await self._set(operation.id, servers_pending=missing)

        result = await wait_for_value(
            record.validation_name,
            record.value,
            servers,
            timeout,
            first_interval=self.hub.settings.propagation_first_interval,
            max_interval=self.hub.settings.propagation_max_interval,
            on_progress=progress,
        )
        if result.ok:
            await self._set(operation.id, state=READY, servers_pending="")
        else:
            reason = "; ".join(r for r in (operation.reason, result.reason) if r)
            await self._set(
                operation.id,
                state=FAILED,
                reason=reason,
                servers_pending=" ".join(map(str, result.missing)),
            )

    async def _servers(
        self,
        record: models.ChallengeRecord,
        config: models.ManagedChallengeConfig | None,
        provider: Provider,
    ) -> list[Nameserver]:
        if config is not None and config.nameservers:
            return [Nameserver.parse(text) for text in config.nameservers.split()]
        return await authoritative_for(provider, record.zone)

    # -- waiting -------------------------------------------------------------

    async def wait_final(self, operation_id: str) -> models.Operation:
        """Return the operation once it is READY, FAILED or CLEANED."""
        while True:
            changed = self.watch(operation_id)
            operation = await blocking(get_operation, operation_id)
            if operation.state in FINAL:
                self.forget(operation_id)
                return operation
            # A task of this hub wakes us on every change; an operation another
            # hub runs is read again each second.
            await self.wait_change(changed, 5.0 if operation_id in self._tasks else 1.0)

    # -- cleanup and sweeping ------------------------------------------------

    async def remove_record(
        self, record: models.ChallengeRecord, reason: str
    ) -> models.Operation | None:
        """Remove the value a record published; the record and its operation end."""
        operation = await blocking(latest_operation, record.id)
        if operation is not None:
            await self.cancel(operation.id)
        credential = await blocking(
            models.StoredCredential.get_or_none,
            models.StoredCredential.id == record.credential_id,
        )
        if record.zone and credential is not None:
            provider = await blocking(self.hub.build_provider, credential)
            try:
                await blocking(_remove_value, provider, record)
            finally:
                await blocking(provider.close)
        await blocking(_retire_record, record.id)
        if operation is not None:
            await self._set(
                operation.id, state=CLEANED, reason=reason, servers_pending=""
            )
            operation = await blocking(get_operation, operation.id)
        return operation

    def start_sweeper(self) -> None:
        """Start the sweeper and the heartbeat of this hub's running operations."""
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep_forever())
        self._heartbeat = loop.create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        # One UPDATE for all operations this hub runs, so that other hubs'
        # sweepers leave them alone, however many are waiting.
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await blocking(_touch_operations, list(self._tasks))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("heartbeat failed; retrying at the next one")

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in (self._sweeper, self._heartbeat):
            if task is not None:
                tasks.append(task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sweep failed; retrying at the next interval")
            await asyncio.sleep(self.hub.settings.sweep_interval)

    async def sweep(self) -> None:
        """Remove records past their age; resume operations whose hub stopped."""
        stale = await blocking(_stale_operations, STALE_SECONDS)
        for operation_id in stale:
            if operation_id not in self._tasks:
                logger.info("resuming interrupted operation %s", operation_id)
                self.start(operation_id)
        expired = await blocking(_expired_records, self.hub.settings.record_max_age)
        for record in expired:
            try:
                await self.remove_record(record, "removed by the sweeper: past its age")
                logger.info("swept record %s at %s", record.id, record.validation_name)
            except ProviderError as exc:
                logger.warning(
                    "could not sweep record %s at %s: %s",
                    record.id,
                    record.validation_name,
                    exc.message,
                )


def get_operation(operation_id: str) -> models.Operation:
    """The operation with this id; NotFoundError when there is none."""
    operation = models.Operation.get_or_none(models.Operation.id == operation_id)
    if operation is None:
        raise NotFoundError("operation", operation_id)
    return operation


def latest_operation(record_id: str) -> models.Operation | None:
    """The record's newest operation (a failed one may be retried by a new one)."""
    return (
        models.Operation.select()
        .where(models.Operation.record == record_id)
        .order_by(models.Operation.created_at.desc())
        .first()
    )


def _write_value(
    provider: Provider, record: models.ChallengeRecord, ttl: int
) -> tuple[str, int]:
    """Find the zone and add the value under the name's lock; store the zone."""
    zone = provider.find_zone(record.validation_name)
    if zone == record.validation_name and not record.validation_name.startswith(
        ACME_CHALLENGE_PREFIX
    ):
        # Only a CNAME target can land here (a validation name always starts
        # with _acme-challenge): a wildcard CNAME to an apex, say. A zone's
        # apex is never a challenge delegation, and holds its SPF and the like.
        raise ProviderError(
            f"will not write at {zone}: it is the apex of zone {zone}, reached "
            f"through a CNAME at the validation name of {record.identifier}",
            zone=zone,
            name=record.validation_name,
        )
    models.ChallengeRecord.update(zone=zone).where(
        models.ChallengeRecord.id == record.id
    ).execute()
    with name_lock(record.validation_name):
        existed = provider.has_txt_value(zone, record.validation_name, record.value)
        written_ttl = provider.add_txt_value(
            zone, record.validation_name, record.value, ttl
        )
    if existed and not _shared_with_another_record(record):
        logger.debug(
            "value at %s was there before; cleanup will leave it",
            record.validation_name,
        )
        models.ChallengeRecord.update(preexisting=True).where(
            models.ChallengeRecord.id == record.id
        ).execute()
    logger.debug("added value at %s in zone %s", record.validation_name, zone)
    return zone, written_ttl


def _shared_with_another_record(record: models.ChallengeRecord) -> bool:
    """Whether another active record publishes the same value at the same name."""
    return bool(
        models.ChallengeRecord.select()
        .where(
            (models.ChallengeRecord.validation_name == record.validation_name)
            & (models.ChallengeRecord.value == record.value)
            & (models.ChallengeRecord.active == True)  # noqa: E712
            & (models.ChallengeRecord.id != record.id)
        )
        .exists()
    )


def _remove_value(provider: Provider, record: models.ChallengeRecord) -> None:
    # The value stays while another record needs it (two principals, or two
    # identifiers sharing a validation name), and when it was there before.
    if record.preexisting or _shared_with_another_record(record):
        return
    with name_lock(record.validation_name):
        provider.remove_txt_value(record.zone, record.validation_name, record.value)
    logger.debug("removed value at %s in zone %s", record.validation_name, record.zone)


def _retire_record(record_id: str) -> None:
    models.ChallengeRecord.update(active=False, removed_at=models.utcnow()).where(
        models.ChallengeRecord.id == record_id
    ).execute()


def _touch_operations(operation_ids: list[str]) -> None:
    """Mark operations as alive; those already final are left as they are."""
    now = models.utcnow()
    for start in range(0, len(operation_ids), 500):
        chunk = operation_ids[start : start + 500]
        models.Operation.update(updated_at=now).where(
            models.Operation.id.in_(chunk)
            & models.Operation.state.in_(sorted(IN_FLIGHT))
        ).execute()


def _stale_operations(stale_seconds: float) -> list[str]:
    limit = models.utcnow() - dt.timedelta(seconds=stale_seconds)
    query = models.Operation.select(models.Operation.id).where(
        models.Operation.state.in_(sorted(IN_FLIGHT))
        & (models.Operation.updated_at < limit)
    )
    return [row.id for row in query]


def _expired_records(default_age: float) -> list[models.ChallengeRecord]:
    now = models.utcnow()
    records = models.ChallengeRecord.select().where(
        models.ChallengeRecord.active == True  # noqa: E712
    )
    configs = {
        c.id: c.max_record_age
        for c in models.ManagedChallengeConfig.select(
            models.ManagedChallengeConfig.id,
            models.ManagedChallengeConfig.max_record_age,
        )
    }
    expired = []
    oldest_allowed = now - dt.timedelta(
        seconds=min([default_age, *[a for a in configs.values() if a]])
    )
    for record in records.where(models.ChallengeRecord.created_at < oldest_allowed):
        age = configs.get(record.config_id) or default_age
        if (now - record.created_at).total_seconds() > age:
            expired.append(record)
    return expired
