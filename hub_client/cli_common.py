"""Connection settings, output and argument parsing shared by hubctl's commands."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from hub_client.client import (
    DEFAULT_ADDRESS,
    Credentials,
    HubClient,
    channel_credentials,
)
from hub_client.errors import HubClientError

F = TypeVar("F", bound=Callable[..., Any])

# Unary calls get this deadline unless --timeout says otherwise; waiting for
# propagation has no deadline of its own, the hub's propagation timeout ends it.
DEFAULT_TIMEOUT = 30.0

# Every list call asks for pages this large and follows next_page_token.
PAGE_SIZE = 500

_PROFILE_KEYS = frozenset(
    {"address", "client_id", "client_secret", "ca_file", "cert_file", "key_file"}
)


class HubRefusedError(click.ClickException):
    """The hub refused or failed a call, or what it answered means failure."""

    exit_code = 1


class HubCommand(click.Command):
    """A command whose hub refusals become one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubClientError as error:
            raise refusal(error, ctx) from None


class HubGroup(click.Group):
    """A group whose commands and subgroups are HubCommands and HubGroups."""

    command_class = HubCommand
    group_class = type


@dataclass
class Settings:
    """Where the hub is and how to authenticate, after flags, environment, profile."""

    address: str = DEFAULT_ADDRESS
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class State:
    """The object every command finds in ``ctx.obj``."""

    settings: Settings
    json: bool = False
    _client: HubClient | None = field(default=None, repr=False)

    def client(self) -> HubClient:
        """The one HubClient of this invocation, connected on first use."""
        if self._client is None:
            self._client = connect(self.settings)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def read_profile(path: Path) -> dict[str, str]:
    """Read a JSON profile, refusing one other users could read.

    Raises:
        click.UsageError: the file is missing, open to others, or not a profile.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise click.UsageError(
            f"cannot read profile {path}: {exc.strerror}; check --profile or "
            "HUB_PROFILE"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise click.UsageError(
            f"profile {path} is open to group or others (mode "
            f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"profile {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise click.UsageError(f"profile {path} must hold a JSON object")
    unknown = sorted(set(data) - _PROFILE_KEYS)
    if unknown:
        raise click.UsageError(
            f"profile {path} has unknown keys {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(_PROFILE_KEYS))}"
        )
    return {key: str(value) for key, value in data.items() if value is not None}


def resolve_settings(
    *,
    address: str | None,
    client_id: str | None,
    client_secret_file: Path | None,
    profile: Path | None,
    tls: bool,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    timeout: float,
) -> Settings:
    """Merge connection settings: flags win over environment, environment over profile.

    Click has already merged flags with their environment variables; the profile
    fills what neither gave.
    """
    stored = read_profile(profile) if profile is not None else {}
    secret = os.environ.get("HUB_CLIENT_SECRET") or stored.get("client_secret", "")
    if client_secret_file is not None:
        secret = _read_secret_file(client_secret_file)
    ca_file = ca_file or stored.get("ca_file")
    cert_file = cert_file or stored.get("cert_file")
    key_file = key_file or stored.get("key_file")
    if (cert_file is None) != (key_file is None):
        raise click.UsageError(
            "a client certificate needs both --cert-file and --key-file"
        )
    client_id = client_id or stored.get("client_id", "")
    if bool(client_id) != bool(secret):
        given, missing = (
            ("a client id", "HUB_CLIENT_SECRET or --client-secret-file")
            if client_id
            else ("a secret", "HUB_CLIENT_ID or --client-id")
        )
        raise click.UsageError(f"{given} is set but not its pair: set {missing}")
    return Settings(
        address=address or stored.get("address") or DEFAULT_ADDRESS,
        client_id=client_id,
        client_secret=secret,
        tls=tls or bool(ca_file or cert_file),
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        timeout=timeout,
    )


def _read_secret_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from exc


def connect(settings: Settings) -> HubClient:
    """A HubClient for ``settings``; plaintext unless TLS was asked for."""
    credentials = None
    if settings.client_id or settings.client_secret:
        credentials = Credentials(settings.client_id, settings.client_secret)
    tls = None
    if settings.tls:
        try:
            tls = channel_credentials(
                settings.ca_file, settings.cert_file, settings.key_file
            )
        except OSError as exc:
            raise click.UsageError(
                f"cannot read TLS file {exc.filename}: {exc.strerror}"
            ) from exc
    return HubClient(settings.address, credentials, tls=tls)


def state() -> State:
    """The State of the running invocation."""
    return click.get_current_context().find_object(State)  # type: ignore[return-value]


def call(method: Callable[..., Any], request: Message) -> Any:
    """Call a unary method with the invocation's deadline."""
    return method(request, timeout=state().settings.timeout)


def paged(
    method: Callable[..., Any], request: Message, items: str, limit: int = 0
) -> list[Any]:
    """Follow a list method's pages; ``items`` names the repeated field."""
    found: list[Any] = []
    request.page_size = PAGE_SIZE if not limit else min(limit, PAGE_SIZE)  # type: ignore[attr-defined]
    while True:
        response = call(method, request)
        found.extend(getattr(response, items))
        if not response.next_page_token or (limit and len(found) >= limit):
            return found[:limit] if limit else found
        request.page_token = response.next_page_token  # type: ignore[attr-defined]


# What to do next, by status code; appended to the hub's own message.
_HINTS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAUTHENTICATED: (
        "set HUB_CLIENT_ID and HUB_CLIENT_SECRET, or use --profile"
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        "ask an administrator for a role that grants it"
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: "retry, or allow more with --timeout",
    grpc.StatusCode.UNIMPLEMENTED: "this hub does not offer it; upgrade the hub",
    grpc.StatusCode.INTERNAL: "the hub's log has the details",
}


def refusal(error: HubClientError, ctx: click.Context | None) -> HubRefusedError:
    """One line that says what the hub answered and what to do about it."""
    message = error.message.strip().splitlines()[0] if error.message.strip() else ""
    message = message or error.code.name.lower().replace("_", " ")
    hint = _HINTS.get(error.code)
    if error.code == grpc.StatusCode.UNAVAILABLE and _unreachable(message):
        found = ctx.find_object(State) if ctx is not None else None
        address = found.settings.address if found is not None else DEFAULT_ADDRESS
        message, hint = _connection_failure(address, message)
    elif error.code == grpc.StatusCode.NOT_FOUND:
        hint = _not_found_hint(message)
    elif error.code == grpc.StatusCode.PERMISSION_DENIED and "restriction" in message:
        hint = "ask an administrator to widen the role assignment's --domains"
    if hint and hint not in message:
        message = f"{message}; {hint}"
    return HubRefusedError(message)


def _connection_failure(address: str, message: str) -> tuple[str, str]:
    """What went wrong connecting, in words, and what to try."""
    lowered = message.lower()
    if "handshake" in lowered and "certificate_verify_failed" in lowered:
        return (
            f"TLS handshake with {address} failed: its certificate is not trusted",
            "give the CA that signed it with --ca-file or HUB_CA_FILE",
        )
    if "handshake" in lowered:
        return (
            f"TLS handshake with {address} failed",
            "check --tls, --ca-file and the client certificate",
        )
    if "socket closed" in lowered:
        return (
            f"the hub at {address} closed the connection",
            "it may want TLS (--tls or --ca-file) or a client certificate "
            "(--cert-file and --key-file)",
        )
    return f"cannot reach the hub at {address}", (
        "start it, or set --address or HUB_ADDRESS"
    )


def _unreachable(message: str) -> bool:
    # gRPC's own words when no connection could be made, as opposed to the hub
    # answering UNAVAILABLE because a DNS back end is down.
    return message.startswith(
        ("failed to connect", "DNS resolution failed", "errors resolving")
    )


# Where to find valid ids, by the kind of object the hub says it did not find.
_LISTS = {
    "principal": "hubctl principal list",
    "role": "hubctl role list",
    "token": "hubctl token list",
    "stored credential": "hubctl credential list",
    "managed challenge config": "hubctl challenge list",
    "operation": "hubctl records list",
}


def _not_found_hint(message: str) -> str | None:
    kind = message.split(" '", 1)[0] if " '" in message else ""
    if kind == "role assignment":
        return "see the roles a principal holds with: hubctl principal show ID"
    command = _LISTS.get(kind)
    return f"list the ids with: {command}" if command else None


def json_option(function: F) -> F:
    """Add ``--json`` to a command; it may also come before the command name."""

    def enable(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            ctx.find_object(State).json = True  # type: ignore[union-attr]

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Print JSON for scripts instead of a table.",
    )(function)


def to_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON-ready dict: proto field names, every field present."""
    result = json_format.MessageToDict(
        message,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )
    _fill_unset(message, result)
    return result


def _fill_unset(message: Message, result: dict[str, Any]) -> None:
    # Scripts read the same keys every time: an unset message field (a token
    # without expiry, say) is null rather than missing.
    for descriptor in message.DESCRIPTOR.fields:
        if descriptor.message_type is None or descriptor.is_repeated:
            continue
        if not message.HasField(descriptor.name):
            result[descriptor.name] = None
        elif isinstance(result.get(descriptor.name), dict):
            _fill_unset(getattr(message, descriptor.name), result[descriptor.name])


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Columns padded to their widest cell; a note instead when there are no rows."""
    rows = [[cell or "-" for cell in row] for row in rows]
    if not rows:
        click.echo("(none)")
        return
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [
            max(width, len(cell)) for width, cell in zip(widths, row, strict=True)
        ]
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())


def print_fields(pairs: Iterable[tuple[str, str]]) -> None:
    """Label and value on each line, values aligned."""
    pairs = list(pairs)
    width = max((len(label) for label, _ in pairs), default=0) + 1
    for label, value in pairs:
        click.echo(f"{(label + ':').ljust(width)} {value or '-'}")


def when(timestamp: Timestamp, has: bool = True) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SSZ``; empty when unset."""
    if not has or (timestamp.seconds == 0 and timestamp.nanos == 0):
        return ""
    moment = timestamp.ToDatetime(tzinfo=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def enum_word(value: int, enum: Any, prefix: str) -> str:
    """``OPERATION_STATE_READY`` as ``ready``."""
    return str(enum.Name(value)).removeprefix(prefix).lower()


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """``90d``, ``12h``, ``30m``, ``45s`` or ``2w`` as a timedelta; None otherwise."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time with an offset; None when ``text`` is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def future_time(text: str, param: str) -> Timestamp:
    """An expiry: a duration from now, or an RFC 3339 time."""
    delta = parse_duration(text)
    moment = datetime.now(UTC) + delta if delta is not None else parse_time(text)
    if moment is None:
        raise click.BadParameter(
            f"{text!r} is neither a duration like 90d, 12h, 30m nor an RFC 3339 "
            "time like 2030-01-31T00:00:00Z",
            param_hint=param,
        )
    timestamp = Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp


def past_time(text: str, param: str) -> Timestamp:
    """A start time: a duration before now, or an RFC 3339 time."""
    delta = parse_duration(text)
    moment = datetime.now(UTC) - delta if delta is not None else parse_time(text)
    if moment is None:
        raise click.BadParameter(
            f"{text!r} is neither a duration like 1h, 7d nor an RFC 3339 time like "
            "2030-01-31T00:00:00Z",
            param_hint=param,
        )
    timestamp = Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp


def key_values(pairs: Sequence[str], param: str) -> dict[str, str]:
    """``k=v`` arguments as a dict; a pair without ``=`` is a usage error."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=param)
        result[key.strip()] = value
    return result


def check_secret_arguments(names: Sequence[str]) -> None:
    """Refuse ``--secret k=value``: a command line is visible to other users."""
    for name in names:
        key, sep, value = name.partition("=")
        if sep and not value.startswith("@"):
            raise click.BadParameter(
                f"a secret value on the command line is visible to other users; "
                f"use --secret {key} (prompt or standard input) or "
                f"--secret {key}=@FILE",
                param_hint="--secret",
            )


def read_secrets(names: Sequence[str]) -> dict[str, str]:
    """Values for ``--secret`` arguments, never taken from the command line.

    ``k=@/path`` reads the file (one trailing newline dropped); otherwise a hidden
    prompt on a terminal, or one line of standard input per secret, in order.
    """
    check_secret_arguments(names)
    secrets: dict[str, str] = {}
    lines: Iterator[str] | None = None
    for name in names:
        key, sep, value = name.partition("=")
        if sep:
            secrets[key] = _read_secret_file(Path(value[1:]))
        elif sys.stdin.isatty():
            secrets[key] = click.prompt(f"{key}", hide_input=True)
        else:
            lines = lines if lines is not None else iter(sys.stdin)
            line = next(lines, None)
            if line is None:
                raise click.UsageError(
                    f"standard input ended before the value of secret {key}; "
                    "give one line per --secret"
                )
            secrets[key] = line.rstrip("\r\n")
    return secrets


def emit_removed(kind: str, item_id: str) -> None:
    """Report a removal: an object with the id for --json, a sentence otherwise."""
    if state().json:
        emit_json({"id": item_id, "removed": True})
    else:
        click.echo(f"Removed {kind} {item_id}.")
