"""Writes audit events: every change and every denied request."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from storage import models


@dataclass
class AuditDetails:
    """What a servicer learned about its call, for the audit event."""

    target: str = ""
    name: str = ""


CURRENT_DETAILS: contextvars.ContextVar[AuditDetails] = contextvars.ContextVar(
    "audit_details"
)


def note(*, target: str = "", name: str = "") -> None:
    """Tell the audit event of the current call what it acted on."""
    details = CURRENT_DETAILS.get(None)
    if details is None:
        return
    if target:
        details.target = target
    if name:
        details.name = name


def write_event(
    *,
    principal_id: str,
    client_id: str,
    peer: str,
    action: str,
    method: str,
    outcome: str,
    reason: str = "",
    target: str = "",
    name: str = "",
) -> None:
    """Store one event. Callers pass only public facts: never a secret."""
    models.AuditEvent.create(
        principal_id=principal_id,
        client_id=client_id[:64],
        peer=peer[:128],
        action=action,
        method=method[:128],
        target=target[:128],
        name=name[:260],
        outcome=outcome,
        reason=reason[:2000],
    )
