"""hubctl commands for DNS work: credentials, challenge configs, records, operations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import click
from google.protobuf.field_mask_pb2 import FieldMask

from hub_client.cli_common import (
    HubCommand,
    HubGroup,
    HubRefusedError,
    call,
    check_secret_arguments,
    emit_json,
    emit_removed,
    enum_word,
    json_option,
    key_values,
    paged,
    print_fields,
    print_table,
    read_secrets,
    state,
    to_dict,
    when,
)
from hub_client.errors import UnimplementedError
from hub_client.hub.v1 import challenge_pb2, credential_pb2

_STATES = {
    "presenting": challenge_pb2.OPERATION_STATE_PRESENTING,
    "propagating": challenge_pb2.OPERATION_STATE_PROPAGATING,
    "ready": challenge_pb2.OPERATION_STATE_READY,
    "failed": challenge_pb2.OPERATION_STATE_FAILED,
    "cleaned": challenge_pb2.OPERATION_STATE_CLEANED,
}
_FINAL = {
    challenge_pb2.OPERATION_STATE_READY,
    challenge_pb2.OPERATION_STATE_FAILED,
    challenge_pb2.OPERATION_STATE_CLEANED,
}

# How often `operation watch` asks when the hub cannot stream operations.
_POLL_SECONDS = 1.0


def _state_word(value: int) -> str:
    return enum_word(value, challenge_pb2.OperationState, "OPERATION_STATE_")


# --- credential -----------------------------------------------------------------


@click.group(cls=HubGroup)
def credential() -> None:
    """DNS provider credentials; secret parameters are write-only."""


@credential.command("providers")
@json_option
def credential_providers() -> None:
    """List the provider types and the parameters each takes."""
    request = credential_pb2.ListProvidersRequest()
    providers = call(state().client().credentials.ListProviders, request).providers
    if state().json:
        emit_json([to_dict(item) for item in providers])
        return
    for index, provider in enumerate(providers):
        if index:
            click.echo()
        ttl = f"TTL {provider.min_ttl}-{provider.max_ttl}s"
        click.echo(f"{provider.type}: {provider.title} ({ttl})")
        print_table(
            ["  PARAMETER", "KIND", "DEFAULT", "MEANING"],
            [
                [
                    f"  {parameter.name}",
                    _parameter_kind(parameter),
                    parameter.default_value,
                    parameter.description,
                ]
                for parameter in provider.parameters
            ],
        )


def _parameter_kind(parameter: credential_pb2.ProviderParameter) -> str:
    kind = "required" if parameter.required else "optional"
    return f"{kind}, secret" if parameter.secret else kind


def _secret_names(provider_type: str) -> set[str]:
    request = credential_pb2.ListProvidersRequest()
    providers = call(state().client().credentials.ListProviders, request).providers
    for provider in providers:
        if provider.type == provider_type:
            return {p.name for p in provider.parameters if p.secret}
    return set()


def _credential_parameters(
    provider_type: str, params: Sequence[str], secrets: Sequence[str]
) -> dict[str, str]:
    """Merge --param and --secret values; a secret given as --param is refused."""
    plain = key_values(params, "--param")
    exposed = sorted(set(plain) & _secret_names(provider_type)) if plain else []
    if exposed:
        raise click.BadParameter(
            f"{', '.join(exposed)} is secret: a command line is visible to other "
            f"users; use --secret {exposed[0]} (prompt or standard input) or "
            f"--secret {exposed[0]}=@FILE",
            param_hint="--param",
        )
    return {**plain, **read_secrets(secrets)}


_PARAM_HELP = "Provider parameter KEY=VALUE (repeat)."
_HIDDEN_PARAM_HELP = (
    "Secret parameter KEY, read from a hidden prompt, one line of standard input "
    "per KEY, or KEY=@FILE (repeat)."
)


@credential.command("add")
@click.option("--provider", "provider_type", required=True, metavar="TYPE")
@click.option("--title", required=True, help="Short name, 1-200 characters.")
@click.option("--description", default="", help="Free text.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help=_PARAM_HELP)
@click.option(
    "--secret", "secrets", multiple=True, metavar="KEY", help=_HIDDEN_PARAM_HELP
)
@json_option
def credential_add(
    provider_type: str,
    title: str,
    description: str,
    params: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Store a credential for a DNS provider; prints its id."""
    parameters = _credential_parameters(provider_type, params, secrets)
    request = credential_pb2.CreateStoredCredentialRequest(
        title=title,
        description=description,
        provider_type=provider_type,
        parameters=parameters,
    )
    created = call(state().client().credentials.CreateStoredCredential, request)
    if state().json:
        emit_json(to_dict(created))
    else:
        click.echo(f"Created credential {created.id} ({created.title}).")


def _show_credential(item: credential_pb2.StoredCredential) -> None:
    print_fields(
        [
            ("Id", item.id),
            ("Title", item.title),
            ("Description", item.description),
            ("Provider", item.provider_type),
            ("Secrets set", ", ".join(sorted(item.secret_parameters_set))),
            ("Created", when(item.create_time)),
            ("Updated", when(item.update_time)),
        ]
    )
    click.echo("Parameters:")
    for key in sorted(item.parameters):
        click.echo(f"  {key} = {item.parameters[key]}")
    if not item.parameters:
        click.echo("  (none)")


@credential.command("list")
@json_option
def credential_list() -> None:
    """List stored credentials; secret values are never shown."""
    items = paged(
        state().client().credentials.ListStoredCredentials,
        credential_pb2.ListStoredCredentialsRequest(),
        "stored_credentials",
    )
    if state().json:
        emit_json([to_dict(item) for item in items])
        return
    print_table(
        ["ID", "PROVIDER", "TITLE", "SECRETS SET", "UPDATED"],
        [
            [
                item.id,
                item.provider_type,
                item.title,
                ",".join(sorted(item.secret_parameters_set)),
                when(item.update_time),
            ]
            for item in items
        ],
    )


@credential.command("show")
@click.argument("credential_id", metavar="ID")
@json_option
def credential_show(credential_id: str) -> None:
    """Show a credential: parameters, and which secrets hold a value."""
    request = credential_pb2.GetStoredCredentialRequest(id=credential_id)
    item = call(state().client().credentials.GetStoredCredential, request)
    if state().json:
        emit_json(to_dict(item))
    else:
        _show_credential(item)


@credential.command("update")
@click.argument("credential_id", metavar="ID")
@click.option("--title", help="New short name.")
@click.option("--description", help="New free text (empty clears it).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help=_PARAM_HELP)
@click.option(
    "--secret", "secrets", multiple=True, metavar="KEY", help=_HIDDEN_PARAM_HELP
)
@json_option
def credential_update(
    credential_id: str,
    title: str | None,
    description: str | None,
    params: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Change a credential; parameters not named keep their values."""
    paths = [
        path
        for path, given in (
            ("title", title is not None),
            ("description", description is not None),
            ("parameters", bool(params or secrets)),
        )
        if given
    ]
    if not paths:
        raise click.UsageError(
            "nothing to change; give --title, --description, --param or --secret"
        )
    key_values(params, "--param")  # usage errors before any call
    check_secret_arguments(secrets)
    parameters: dict[str, str] = {}
    if params or secrets:
        current = call(
            state().client().credentials.GetStoredCredential,
            credential_pb2.GetStoredCredentialRequest(id=credential_id),
        )
        parameters = _credential_parameters(current.provider_type, params, secrets)

    request = credential_pb2.UpdateStoredCredentialRequest(
        id=credential_id,
        title=title or "",
        description=description or "",
        parameters=parameters,
        update_mask=FieldMask(paths=paths),
    )
    item = call(state().client().credentials.UpdateStoredCredential, request)
    if state().json:
        emit_json(to_dict(item))
    else:
        click.echo(f"Updated credential {item.id} ({item.title}).")


@credential.command("remove")
@click.argument("credential_id", metavar="ID")
@json_option
def credential_remove(credential_id: str) -> None:
    """Delete a credential no managed challenge uses."""
    request = credential_pb2.DeleteStoredCredentialRequest(id=credential_id)
    call(state().client().credentials.DeleteStoredCredential, request)
    emit_removed("credential", credential_id)


@credential.command("test")
@click.argument("credential_id", metavar="ID")
@click.option("--zone", required=True, help="A zone, or a name inside one, to look up.")
@json_option
def credential_test(credential_id: str, zone: str) -> None:
    """Ask the provider to find a zone with the credential; exit 1 when it fails."""
    request = credential_pb2.TestStoredCredentialRequest(id=credential_id, zone=zone)
    result = call(state().client().credentials.TestStoredCredential, request)
    if state().json:
        emit_json(to_dict(result))
    elif result.ok:
        took = f"{result.duration_ms} ms"
        click.echo(f"OK: zone {result.zone} ({took}). {result.message}".rstrip())
    if not result.ok:
        raise HubRefusedError(f"credential test failed: {result.message}")


# --- challenge ------------------------------------------------------------------


@click.group(cls=HubGroup)
def challenge() -> None:
    """Managed challenges: which credential serves which names, and how."""


def _as_int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter(
            f"{key} takes a whole number of seconds, not {text!r}",
            param_hint="--option",
        ) from None


def _as_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "1", "on"}:
        return True
    if lowered in {"false", "no", "0", "off"}:
        return False
    raise click.BadParameter(
        f"{key} takes true or false, not {text!r}", param_hint="--option"
    )


def _set_ttl(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.ttl = _as_int("ttl", text)
    return "ttl"


def _set_timeout(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.propagation.timeout_seconds = _as_int("propagation_timeout", text)
    return "propagation"


def _set_skip(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.propagation.skip_check = _as_bool("skip_propagation_check", text)
    return "propagation"


def _set_nameservers(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    servers = [server.strip() for server in text.split(",") if server.strip()]
    del config.propagation.nameservers[:]
    config.propagation.nameservers.extend(servers)
    return "propagation"


def _set_follow(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.follow_cname = _as_bool("follow_cname", text)
    return "follow_cname"


def _set_age(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.max_record_age_seconds = _as_int("max_record_age", text)
    return "max_record_age_seconds"


def _set_description(config: challenge_pb2.ManagedChallenge, text: str) -> str:
    config.description = text
    return "description"


# Each --option key sets its field and names the update_mask path it changed.
_OPTIONS: dict[str, Callable[[challenge_pb2.ManagedChallenge, str], str]] = {
    "ttl": _set_ttl,
    "propagation_timeout": _set_timeout,
    "skip_propagation_check": _set_skip,
    "nameservers": _set_nameservers,
    "follow_cname": _set_follow,
    "max_record_age": _set_age,
    "description": _set_description,
}
_OPTION_HELP = f"Setting KEY=VALUE (repeat); keys: {', '.join(_OPTIONS)}."


def _apply_options(
    config: challenge_pb2.ManagedChallenge, options: Sequence[str]
) -> list[str]:
    """Set each --option on ``config``; returns the update_mask paths touched."""
    paths: list[str] = []
    for key, value in key_values(options, "--option").items():
        setter = _OPTIONS.get(key)
        if setter is None:
            raise click.BadParameter(
                f"unknown key {key!r}; known keys: {', '.join(_OPTIONS)}",
                param_hint="--option",
            )
        path = setter(config, value)
        if path not in paths:
            paths.append(path)
    return paths


def _show_challenge(item: challenge_pb2.ManagedChallenge) -> None:
    propagation = item.propagation
    if propagation.skip_check:
        checking = "off"
    else:
        timeout = propagation.timeout_seconds or "default"
        servers = ", ".join(propagation.nameservers) or "the zone's authoritative"
        checking = f"{servers} servers, timeout {timeout}"
    print_fields(
        [
            ("Id", item.id),
            ("Title", item.title),
            ("Description", item.description),
            ("Match", item.domain_match_rule),
            ("Credential", item.credential_id),
            ("Type", item.challenge_type),
            ("TTL", str(item.ttl or "default")),
            ("Propagation", checking),
            ("Follow CNAME", "yes" if item.follow_cname else "no"),
            ("Max age", str(item.max_record_age_seconds or "default")),
            ("Created", when(item.create_time)),
            ("Updated", when(item.update_time)),
        ]
    )


@challenge.command("add")
@click.option("--title", required=True, help="Short name, 1-200 characters.")
@click.option("--credential", "credential_id", required=True, metavar="ID")
@click.option(
    "--match",
    "rule",
    required=True,
    metavar="RULE",
    help="Domain Match Rule, e.g. 'example.com; *.example.com'.",
)
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help=_OPTION_HELP
)
@json_option
def challenge_add(
    title: str, credential_id: str, rule: str, options: tuple[str, ...]
) -> None:
    """Create a managed challenge config; prints its id."""
    config = challenge_pb2.ManagedChallenge(
        title=title,
        credential_id=credential_id,
        domain_match_rule=rule,
        challenge_type="dns-01",
    )
    _apply_options(config, options)
    request = challenge_pb2.CreateManagedChallengeRequest(managed_challenge=config)
    created = call(state().client().challenges.CreateManagedChallenge, request)
    if state().json:
        emit_json(to_dict(created))
    else:
        click.echo(f"Created managed challenge {created.id} ({created.title}).")


@challenge.command("list")
@json_option
def challenge_list() -> None:
    """List managed challenge configs."""
    items = paged(
        state().client().challenges.ListManagedChallenges,
        challenge_pb2.ListManagedChallengesRequest(),
        "managed_challenges",
    )
    if state().json:
        emit_json([to_dict(item) for item in items])
        return
    print_table(
        ["ID", "TITLE", "MATCH", "CREDENTIAL", "TTL"],
        [
            [
                item.id,
                item.title,
                item.domain_match_rule,
                item.credential_id,
                str(item.ttl or "default"),
            ]
            for item in items
        ],
    )


@challenge.command("show")
@click.argument("challenge_id", metavar="ID")
@json_option
def challenge_show(challenge_id: str) -> None:
    """Show one managed challenge config."""
    request = challenge_pb2.GetManagedChallengeRequest(id=challenge_id)
    item = call(state().client().challenges.GetManagedChallenge, request)
    if state().json:
        emit_json(to_dict(item))
    else:
        _show_challenge(item)


@challenge.command("update")
@click.argument("challenge_id", metavar="ID")
@click.option("--title", help="New short name.")
@click.option("--credential", "credential_id", metavar="ID", help="New credential.")
@click.option("--match", "rule", metavar="RULE", help="New Domain Match Rule.")
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help=_OPTION_HELP
)
@json_option
def challenge_update(
    challenge_id: str,
    title: str | None,
    credential_id: str | None,
    rule: str | None,
    options: tuple[str, ...],
) -> None:
    """Change a managed challenge config; settings not named keep their values."""
    if title is None and credential_id is None and rule is None and not options:
        raise click.UsageError(
            "nothing to change; give --title, --credential, --match or --option"
        )
    _apply_options(challenge_pb2.ManagedChallenge(), options)  # usage errors first
    # Propagation is one field on the wire: start from the stored config so that
    # changing its timeout keeps its servers.
    config = call(
        state().client().challenges.GetManagedChallenge,
        challenge_pb2.GetManagedChallengeRequest(id=challenge_id),
    )
    paths = _apply_options(config, options)
    for path, value in (
        ("title", title),
        ("credential_id", credential_id),
        ("domain_match_rule", rule),
    ):
        if value is not None:
            setattr(config, path, value)
            paths.append(path)

    request = challenge_pb2.UpdateManagedChallengeRequest(
        managed_challenge=config, update_mask=FieldMask(paths=paths)
    )
    item = call(state().client().challenges.UpdateManagedChallenge, request)
    if state().json:
        emit_json(to_dict(item))
    else:
        click.echo(f"Updated managed challenge {item.id} ({item.title}).")


@challenge.command("remove")
@click.argument("challenge_id", metavar="ID")
@json_option
def challenge_remove(challenge_id: str) -> None:
    """Delete a config; records it published stay until cleaned up or swept."""
    request = challenge_pb2.DeleteManagedChallengeRequest(id=challenge_id)
    call(state().client().challenges.DeleteManagedChallenge, request)
    emit_removed("managed challenge", challenge_id)


@challenge.command("resolve")
@click.argument("name")
@json_option
def challenge_resolve(name: str) -> None:
    """Say which config would serve NAME for you, and why; exit 1 when none would."""
    request = challenge_pb2.ResolveManagedChallengeRequest(identifier=name)
    answer = call(state().client().challenges.ResolveManagedChallenge, request)
    if state().json:
        emit_json(to_dict(answer))
    elif answer.found:
        config = answer.managed_challenge
        print_fields(
            [
                ("Identifier", answer.identifier),
                ("Record", answer.validation_name),
                ("Config", f"{config.id} ({config.title})"),
                ("Matched", answer.matched_entry),
                ("Why", answer.explanation),
            ]
        )
    if not answer.found:
        raise HubRefusedError(
            f"no managed challenge serves {answer.identifier or name}: "
            f"{answer.explanation}".rstrip(": ")
        )


# --- present, cleanup, records --------------------------------------------------


def _operation_line(operation: challenge_pb2.Operation) -> str:
    """One line of progress: the state and what it is waiting for."""
    word = _state_word(operation.state)
    line = f"{word}: {operation.validation_name or operation.identifier}"
    if operation.zone:
        line += f" in zone {operation.zone}"
    if operation.state == challenge_pb2.OPERATION_STATE_PROPAGATING:
        pending = len(operation.servers_pending)
        if operation.servers:
            line += f", {pending} of {len(operation.servers)} servers pending"
    if operation.reason:
        line += f" ({operation.reason})"
    return line


def _show_operation(operation: challenge_pb2.Operation) -> None:
    print_fields(
        [
            ("Operation", operation.id),
            ("State", _state_word(operation.state)),
            ("Identifier", operation.identifier),
            ("Record", operation.validation_name),
            ("Zone", operation.zone),
            ("Record id", operation.record_id),
            ("Config", operation.managed_challenge_id),
            ("TTL", _ttl_text(operation)),
            ("Servers", ", ".join(operation.servers)),
            ("Pending", ", ".join(operation.servers_pending)),
            ("Reason", operation.reason),
            ("Created", when(operation.create_time)),
            ("Updated", when(operation.update_time)),
        ]
    )


def _ttl_text(operation: challenge_pb2.Operation) -> str:
    if not operation.ttl:
        return f"{operation.requested_ttl} (asked)" if operation.requested_ttl else ""
    if operation.requested_ttl and operation.requested_ttl != operation.ttl:
        return f"{operation.ttl} (asked {operation.requested_ttl})"
    return str(operation.ttl)


def _operation_updates(operation_id: str) -> Iterator[challenge_pb2.Operation]:
    """Each state of an operation until a final one, streamed or else polled."""
    client = state().client()
    request = challenge_pb2.WatchOperationRequest(id=operation_id)
    try:
        yield from client.challenges.WatchOperation(request)
        return
    except UnimplementedError:
        pass
    while True:
        operation = call(
            client.challenges.GetOperation,
            challenge_pb2.GetOperationRequest(id=operation_id),
        )
        yield operation
        if operation.state in _FINAL:
            return
        time.sleep(_POLL_SECONDS)


def _follow(operation_id: str, shown: str = "") -> challenge_pb2.Operation | None:
    """Print each change of an operation to stderr; return its last state.

    ``shown`` is the line already printed, so the stream's first message, the
    current state, is not repeated.
    """
    last = None
    for update in _operation_updates(operation_id):
        line = _operation_line(update)
        if line != shown:
            click.echo(line, err=True)
            shown = line
        last = update
    return last


def _finish(operation: challenge_pb2.Operation) -> None:
    """Print the operation; exit 1 when it failed."""
    if state().json:
        emit_json(to_dict(operation))
    else:
        _show_operation(operation)
    if operation.state == challenge_pb2.OPERATION_STATE_FAILED:
        raise HubRefusedError(
            f"operation {operation.id} failed: {operation.reason or 'no reason given'}"
        )


@click.command(cls=HubCommand)
@click.argument("identifier")
@click.option("--value", required=True, help="The dns-01 value (43 characters).")
@click.option("--record-name", default="", help="The TXT name the client expects.")
@click.option("--wait", is_flag=True, help="Show progress until ready or failed.")
@json_option
def present(identifier: str, value: str, record_name: str, wait: bool) -> None:
    """Publish a dns-01 TXT value for IDENTIFIER; exit 1 when it fails."""
    request = challenge_pb2.PerformChallengeRequest(
        identifier=identifier, record_name=record_name, value=value
    )
    # Without waiting on the hub, each state change can be shown as it happens.
    operation = call(state().client().challenges.PerformChallenge, request)
    if wait:
        started = time.monotonic()
        line = _operation_line(operation)
        click.echo(line, err=True)
        if operation.state not in _FINAL:
            operation = _follow(operation.id, line) or operation
        seconds = time.monotonic() - started
        click.echo(f"{_state_word(operation.state)} after {seconds:.1f}s", err=True)
    _finish(operation)


@click.command(cls=HubCommand)
@click.argument("identifier")
@click.option("--value", required=True, help="The dns-01 value to remove.")
@click.option("--record-name", default="", help="The TXT name the client expects.")
@json_option
def cleanup(identifier: str, value: str, record_name: str) -> None:
    """Remove a value the hub published for IDENTIFIER; already gone is success."""
    request = challenge_pb2.CleanupChallengeRequest(
        identifier=identifier, record_name=record_name, value=value
    )
    answer = call(state().client().challenges.CleanupChallenge, request)
    if state().json:
        emit_json(to_dict(answer))
    elif answer.removed:
        click.echo(f"Removed the value from {answer.operation.validation_name}.")
    else:
        click.echo(f"Nothing to remove for {identifier}: the value was not there.")


@click.group(cls=HubGroup)
def records() -> None:
    """The dns-01 records the hub has published."""


@records.command("list")
@click.option("--name", default="", help="An identifier or validation name.")
@click.option("--state", "state_name", type=click.Choice(list(_STATES)))
@click.option("--principal", "principal_id", default="", metavar="ID")
@json_option
def records_list(name: str, state_name: str | None, principal_id: str) -> None:
    """List active records, oldest first."""
    request = challenge_pb2.ListRecordsRequest(name=name, principal_id=principal_id)
    if state_name is not None:
        request.state = _STATES[state_name]
    items = paged(state().client().challenges.ListRecords, request, "records")
    if state().json:
        emit_json([to_dict(item) for item in items])
        return
    print_table(
        ["ID", "IDENTIFIER", "RECORD", "STATE", "AGE", "OPERATION", "PRINCIPAL"],
        [
            [
                item.id,
                item.identifier,
                item.validation_name,
                _state_word(item.state),
                f"{item.age_seconds}s",
                item.operation_id,
                item.principal_id,
            ]
            for item in items
        ],
    )


@click.group(cls=HubGroup)
def operation() -> None:
    """The progress of publishing a record."""


@operation.command("show")
@click.argument("operation_id", metavar="ID")
@json_option
def operation_show(operation_id: str) -> None:
    """Show an operation's current state."""
    request = challenge_pb2.GetOperationRequest(id=operation_id)
    item = call(state().client().challenges.GetOperation, request)
    if state().json:
        emit_json(to_dict(item))
    else:
        _show_operation(item)


@operation.command("watch")
@click.argument("operation_id", metavar="ID")
@json_option
def operation_watch(operation_id: str) -> None:
    """Print each state change until the operation ends; exit 1 when it failed."""
    last = _follow(operation_id)
    if last is None:
        raise HubRefusedError(f"the hub sent nothing for operation {operation_id}")
    _finish(last)


COMMANDS: list[click.Command] = [
    credential,
    challenge,
    present,
    cleanup,
    records,
    operation,
]
