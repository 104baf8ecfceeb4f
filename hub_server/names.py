"""One form for every DNS name the hub compares, and the dns-01 record rules."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

import idna

from hub_server.errors import ValidationError

#: The label an ACME server queries for dns-01 (RFC 8555, section 8.4).
CHALLENGE_LABEL = "_acme-challenge"
ACME_CHALLENGE_PREFIX = CHALLENGE_LABEL + "."

MAX_NAME_OCTETS = 253
MAX_LABEL_OCTETS = 63

# An unpadded base64url SHA-256 digest: 256 bits in 43 characters.
_TXT_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
_LDH_LABEL = re.compile(r"[a-z0-9-]+")
_UNDERSCORE_LABEL = re.compile(r"[a-z0-9_-]+")
# The common case, checked in one step: host-name labels of 1-63 octets without
# edge hyphens or A-labels, and a top-level label that is not all digits.
_PLAIN_NAME = re.compile(
    r"(?:(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"(?!xn--)(?=[a-z0-9-]*[a-z-])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)

# Inputs are quoted in messages so the caller sees what was refused; a very long
# input is cut so one request cannot flood a log line.
_SHOWN_CHARS = 80
_SHOWN_VALUE_CHARS = 6


def normalize_name(
    text: str,
    field: str = "identifier",
    *,
    allow_wildcard: bool = True,
    allow_underscore: bool = False,
) -> str:
    """Bring a DNS name to the hub's one form, or refuse it.

    The form is lower case, without the trailing dot, every Unicode label turned
    into its A-label (IDNA 2008 with the UTS 46 mapping), each label 1-63 octets
    and the whole at most 253. ``allow_wildcard`` admits one leading ``*.``
    (a wildcard certificate's identifier); ``allow_underscore`` admits ``_`` in
    labels (record names such as ``_acme-challenge.www.example.com``). A label
    holding ``_`` is never passed through IDNA, which would refuse it.

    Raises:
        ValidationError: naming ``field`` and the input.
    """
    name = text.strip()
    if not name.isascii():
        name = _map_unicode(name, field, text)
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValidationError(field, f"{quote_input(text)} is empty")

    prefix = ""
    if name.startswith("*."):
        if not allow_wildcard:
            raise ValidationError(
                field, f"{quote_input(text)}: a wildcard is not allowed"
            )
        prefix, name = "*.", name[2:]

    if len(name) <= MAX_NAME_OCTETS - len(prefix) and _PLAIN_NAME.fullmatch(name):
        return prefix + name

    labels = [
        _a_label(label, field, text, allow_underscore) for label in name.split(".")
    ]
    if labels[-1].isdigit():
        # RFC 3696, section 2: no top-level domain is all digits, so this is an
        # IP address, which has no dns-01 challenge.
        raise ValidationError(field, f"{quote_input(text)} is an address, not a name")

    result = prefix + ".".join(labels)
    if len(result) > MAX_NAME_OCTETS:
        raise ValidationError(
            field, f"{quote_input(text)} is longer than {MAX_NAME_OCTETS} octets"
        )
    return result


def validation_name(identifier: str) -> str:
    """Return ``_acme-challenge.<base>`` for identifier ``<base>`` or ``*.<base>``.

    Raises:
        ValidationError: the identifier is not a valid name, or its validation
            name would be longer than a DNS name can be.
    """
    name = normalize_name(identifier, "identifier")
    base = name.removeprefix("*.")
    record_name = f"{CHALLENGE_LABEL}.{base}"
    if len(record_name) > MAX_NAME_OCTETS:
        raise ValidationError(
            "identifier",
            f"{quote_input(identifier)}: its validation name would be longer than "
            f"{MAX_NAME_OCTETS} octets",
        )
    return record_name


def check_record_name(
    identifier: str, record_name: str, allowed_targets: Iterable[str] = ()
) -> str:
    """Return the normalised record name a client sent, if it may be written.

    It may be the identifier's validation name, or one of ``allowed_targets``
    (where a CNAME delegation points the validation name). Case and a trailing
    dot do not matter.

    Raises:
        ValidationError: field ``record_name`` for any other name, so a token can
            never write a TXT record elsewhere.
    """
    expected = validation_name(identifier)
    name = normalize_name(
        record_name, "record_name", allow_wildcard=False, allow_underscore=True
    )
    if name == expected:
        return name

    targets = {
        normalize_name(
            target, "allowed_targets", allow_wildcard=False, allow_underscore=True
        )
        for target in allowed_targets
    }
    if name in targets:
        return name
    raise ValidationError(
        "record_name",
        f"{quote_input(record_name)} is not the validation name {expected!r} "
        f"of identifier {quote_input(identifier)}",
    )


def check_txt_value(value: str) -> str:
    """Return ``value`` if it is a dns-01 value: 43 characters of base64url.

    Anything else (padding, SPF text, a short value) is refused, so a token can
    never plant a record other than a challenge response.

    Raises:
        ValidationError: field ``value``; the message shows at most a short prefix.
    """
    if _TXT_VALUE.fullmatch(value):
        return value
    prefix = value[:_SHOWN_VALUE_CHARS]
    problem = ""
    if "=" in value:
        problem = "; '=' padding is not part of a dns-01 value"
    elif "+" in value or "/" in value:
        problem = "; '+' and '/' are standard base64, not base64url"
    raise ValidationError(
        "value",
        f"expected 43 characters of [A-Za-z0-9_-] (an unpadded base64url "
        f"SHA-256 digest), got {len(value)} characters starting {prefix!r}"
        f"{problem}",
    )


def dns01_value(key_authorization: str) -> str:
    """Return the TXT value for a key authorization (RFC 8555, section 8.4)."""
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def relative_name(name: str, zone: str, field: str = "record_name") -> str:
    """Return ``name`` relative to ``zone``: ``@`` for the apex.

    Only the trailing zone is stripped: ``_acme-challenge.example.com.foo`` stays
    whole inside ``example.com`` when the name is
    ``_acme-challenge.example.com.foo.example.com``.

    Raises:
        ValidationError: ``name`` is not inside ``zone``.
    """
    name = normalize_name(name, field, allow_wildcard=False, allow_underscore=True)
    zone = normalize_name(zone, "zone", allow_wildcard=False, allow_underscore=True)
    if name == zone:
        return "@"
    if name.endswith("." + zone):
        return name[: -len(zone) - 1]
    raise ValidationError(field, f"{name!r} is not inside zone {zone!r}")


def quote_input(text: str) -> str:
    """Quote an input for a message, cut short if it is long."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + "..."


def _map_unicode(name: str, field: str, text: str) -> str:
    """Apply the UTS 46 mapping: case folding, full-width dots, compatibility forms."""
    try:
        # std3_rules=False keeps "_" and "*", which are checked label by label.
        return str(idna.uts46_remap(name, std3_rules=False, transitional=False))
    except idna.IDNAError as exc:
        raise ValidationError(
            field, f"{quote_input(text)} is not a valid name"
        ) from exc


def _a_label(label: str, field: str, text: str, allow_underscore: bool) -> str:
    """Check one lower-case label and return its A-label."""
    if not label:
        raise ValidationError(field, f"{quote_input(text)} has an empty label")
    if "*" in label:
        raise ValidationError(
            field, f"{quote_input(text)}: '*' is allowed only as a leading '*.' label"
        )

    if "_" in label:
        if not allow_underscore:
            raise ValidationError(
                field,
                f"{quote_input(text)}: label {label!r} holds '_', not allowed here",
            )
        # Service labels such as _acme-challenge are ASCII by definition and IDNA
        # would refuse the underscore; they skip IDNA altogether.
        _check_ascii_label(label, _UNDERSCORE_LABEL, field, text)
        return label

    if label.isascii():
        _check_ascii_label(label, _LDH_LABEL, field, text)
        if label.startswith("xn--"):
            _check_punycode(label, field, text)
        return label

    # idna refuses a long label with the same error as a bad one; check the
    # length first so the message says which.
    _check_length("xn--" + label.encode("punycode").decode("ascii"), field, text)
    try:
        return idna.alabel(label).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValidationError(
            field, f"{quote_input(text)}: label {label!r} is not a valid IDNA label"
        ) from exc


def _check_ascii_label(
    label: str, allowed: re.Pattern[str], field: str, text: str
) -> None:
    """Refuse characters outside ``allowed``, edge hyphens and long labels."""
    if not allowed.fullmatch(label):
        bad = next(c for c in label if not allowed.fullmatch(c))
        raise ValidationError(
            field, f"{quote_input(text)}: character {bad!r} is not allowed in a name"
        )
    if label.startswith("-") or label.endswith("-"):
        raise ValidationError(
            field, f"{quote_input(text)}: label {label!r} starts or ends with '-'"
        )
    _check_length(label, field, text)


def _check_length(label: str, field: str, text: str) -> None:
    """Refuse a label longer than DNS allows."""
    if len(label) > MAX_LABEL_OCTETS:
        raise ValidationError(
            field,
            f"{quote_input(text)}: label {quote_input(label)} is longer than "
            f"{MAX_LABEL_OCTETS} octets",
        )


def _check_punycode(label: str, field: str, text: str) -> None:
    """Refuse an ``xn--`` label that is not the A-label of a valid U-label."""
    try:
        valid = idna.alabel(idna.ulabel(label)).decode("ascii") == label
    except (idna.IDNAError, UnicodeError):
        valid = False
    if not valid:
        raise ValidationError(
            field, f"{quote_input(text)}: label {label!r} is not a valid A-label"
        )
