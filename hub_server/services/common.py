"""Helpers every servicer uses: paging, field checks, time conversion."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable
from typing import Any

import peewee as pw
from google.protobuf import field_mask_pb2, timestamp_pb2

from hub_server.errors import ValidationError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page(
    query: pw.ModelSelect[Any], page_size: int, page_token: str
) -> tuple[list[Any], str]:
    """One page of ``query`` (already ordered) and the token for the next."""
    if page_size < 0:
        raise ValidationError("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _decode_page_token(page_token)
    rows = list(query.offset(offset).limit(size + 1))
    next_token = _encode_page_token(offset + size) if len(rows) > size else ""
    return rows[:size], next_token


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        kind, _, number = text.partition(":")
        offset = int(number)
        if kind != "o" or offset < 0:
            raise ValueError(token)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "page_token", "is not a token from a previous call"
        ) from None
    return offset


def check_text(field: str, value: str, *, required: bool, limit: int) -> str:
    """Trim ``value`` and check its length and characters."""
    value = value.strip()
    if required and not value:
        raise ValidationError(field, "is required")
    if len(value) > limit:
        raise ValidationError(field, f"must be at most {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValidationError(field, "must not contain control characters")
    return value


def check_id(field: str, value: str) -> str:
    """An id the caller names: required, short, printable."""
    value = value.strip()
    if not value:
        raise ValidationError(field, "is required")
    if len(value) > 64 or not value.isprintable():
        raise ValidationError(field, "is not a valid id")
    return value


def mask_paths(
    mask: field_mask_pb2.FieldMask, allowed: Iterable[str], field: str = "update_mask"
) -> set[str]:
    """The paths of an update mask, each checked against ``allowed``."""
    allowed = set(allowed)
    paths = set(mask.paths)
    if not paths:
        raise ValidationError(field, f"is required; allowed paths: {sorted(allowed)}")
    unknown = paths - allowed
    if unknown:
        raise ValidationError(
            field,
            f"path {sorted(unknown)[0]!r} cannot be changed; allowed: "
            f"{sorted(allowed)}",
        )
    return paths


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A naive UTC datetime as a protobuf Timestamp (None stays None)."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.replace(tzinfo=dt.timezone.utc))
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> dt.datetime:
    """A protobuf Timestamp as a naive UTC datetime."""
    return stamp.ToDatetime(tzinfo=dt.timezone.utc).replace(tzinfo=None)
