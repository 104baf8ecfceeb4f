"""DNS helpers the providers share: names, TXT values and the SOA walk."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

# RFC 1035 section 3.3: one character-string holds at most 255 octets.
MAX_STRING_LENGTH = 255


def to_dns_name(name: str) -> dns.name.Name:
    """An absolute ``dns.name.Name`` for a hub name (A-labels, no trailing dot).

    The text is ASCII already, so no IDNA codec runs: an ``_acme-challenge``
    label passes through unchanged.
    """
    return dns.name.from_text(name.rstrip(".") + ".")


def from_dns_name(name: dns.name.Name) -> str:
    """The hub's form of a name: lower case, no trailing dot."""
    return name.to_text(omit_final_dot=True).lower()


def relative_name(name: str, zone: str) -> str:
    """``name`` relative to ``zone``; ``@`` for the apex.

    Only the trailing zone is stripped: ``_acme-challenge.example.com.foo`` stays
    whole inside zone ``example.com``.

    Raises:
        ValueError: ``name`` is not inside ``zone``.
    """
    owner, origin = to_dns_name(name), to_dns_name(zone)
    if not owner.is_subdomain(origin):
        raise ValueError(f"{name} is not inside zone {zone}")
    relative = owner.relativize(origin)
    return relative.to_text() if relative != dns.name.empty else "@"


def txt_rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    """A TXT record holding ``value`` raw: no quote marks, split every 255 octets."""
    data = value.encode()
    chunks = [
        data[start : start + MAX_STRING_LENGTH]
        for start in range(0, len(data), MAX_STRING_LENGTH)
    ] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


def txt_text(rdata: dns.rdtypes.ANY.TXT.TXT) -> str:
    """The value of a TXT record: its strings joined, without quote marks."""
    return b"".join(rdata.strings).decode("utf-8", errors="replace")


def unquote(value: str) -> str:
    """A value as a back end showed it, with presentation quotes removed.

    ``"abc"`` and ``"ab" "c"`` both give ``abc``; a value with no quotes is
    returned unchanged.
    """
    text = value.strip()
    if not (len(text) >= 2 and text.startswith('"') and text.endswith('"')):
        return text
    parts: list[str] = []
    current: list[str] = []
    inside = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and inside:
            escaped = True
        elif char == '"':
            if inside:
                parts.append("".join(current))
                current = []
            inside = not inside
        elif inside:
            current.append(char)
    return "".join(parts)


def txt_values(response: dns.message.Message, name: dns.name.Name) -> set[str]:
    """The TXT values a response's answer holds at ``name``, unquoted."""
    values: set[str] = set()
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT and rrset.name == name:
            values.update(txt_text(rdata) for rdata in rrset)
    return values


def zone_candidates(name: str) -> Iterator[dns.name.Name]:
    """``name`` and each of its parents, nearest first, down to one label."""
    candidate = to_dns_name(name)
    while len(candidate) > 1:
        yield candidate
        candidate = candidate.parent()


def soa_owned_by(response: dns.message.Message, candidate: dns.name.Name) -> bool:
    """True when the answer holds an SOA record owned by ``candidate`` itself.

    An SOA in the authority section only names the enclosing zone of a negative
    answer, and an SOA reached through a CNAME belongs to some other name; neither
    makes ``candidate`` a zone.
    """
    return any(
        rrset.rdtype == dns.rdatatype.SOA and rrset.name == candidate
        for rrset in response.answer
    )


def walk_for_zone(
    name: str, ask_soa: Callable[[dns.name.Name], dns.message.Message | None]
) -> str | None:
    """The nearest name at or above ``name`` that owns an SOA record, or None.

    ``ask_soa`` sends an SOA query for a candidate and returns the response, or
    None when the server would not say (refused, not its zone).
    """
    for candidate in zone_candidates(name):
        response = ask_soa(candidate)
        if response is not None and soa_owned_by(response, candidate):
            return from_dns_name(candidate)
    return None


def first_rrset(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    """The answer's record set of ``rdtype`` at ``name``, if there is one."""
    for rrset in response.answer:
        if rrset.rdtype == rdtype and rrset.name == name:
            return rrset
    return None
