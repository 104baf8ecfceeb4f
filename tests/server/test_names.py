"""Names, record names and TXT values are brought to one form or refused."""

from __future__ import annotations

import base64
import hashlib

import pytest

from hub_server.errors import ValidationError
from hub_server.names import (
    check_record_name,
    check_txt_value,
    dns01_value,
    normalize_name,
    relative_name,
    validation_name,
)

LABEL_63 = "a" * 63
# 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets.
NAME_253 = f"{LABEL_63}.{LABEL_63}.{LABEL_63}.{'b' * 61}"
VALUE = dns01_value("token.thumbprint")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("example.com", "example.com", id="plain"),
        # F13: every name compared and written is lower case.
        pytest.param("MixedCase.Example.COM", "mixedcase.example.com", id="F13-case"),
        # F14: one trailing dot is the same name.
        pytest.param("www.example.com.", "www.example.com", id="F14-trailing-dot"),
        pytest.param("  www.example.com \n", "www.example.com", id="whitespace"),
        pytest.param("*.Example.com.", "*.example.com", id="wildcard"),
        # F12: Unicode labels become A-labels; A-labels stay as they are.
        pytest.param("büro.example", "xn--bro-hoa.example", id="F12-u-label"),
        pytest.param("BÜRO.example", "xn--bro-hoa.example", id="F12-upper-u-label"),
        pytest.param("xn--bro-hoa.example", "xn--bro-hoa.example", id="F12-a-label"),
        pytest.param("*.büro.example", "*.xn--bro-hoa.example", id="F12-wildcard"),
        # IDNA 2008 keeps the sharp s instead of mapping it to "ss".
        pytest.param("straße.de", "xn--strae-oqa.de", id="idna2008-eszett"),
        # UTS 46 maps full-width letters and the ideographic full stop.
        pytest.param("ｅｘａｍｐｌｅ。com", "example.com", id="uts46-full-width"),
        pytest.param("a-b.example.com", "a-b.example.com", id="inner-hyphen"),
        pytest.param("123.example.com", "123.example.com", id="digit-label"),
        pytest.param("a.1b", "a.1b", id="top-label-with-a-letter"),
        pytest.param("x.xn--p1ai", "x.xn--p1ai", id="idn-top-label"),
        pytest.param(f"{LABEL_63}.com", f"{LABEL_63}.com", id="label-63"),
        pytest.param(NAME_253, NAME_253, id="name-253"),
        pytest.param(NAME_253 + ".", NAME_253, id="name-253-trailing-dot"),
    ],
)
def test_normalize_name_accepts(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        pytest.param("", {}, "identifier: '' is empty", id="empty"),
        pytest.param(" . ", {}, "identifier: ' . ' is empty", id="only-dot"),
        pytest.param(
            "a..example.com",
            {},
            "'a..example.com' has an empty label",
            id="empty-label",
        ),
        pytest.param(
            ".example.com", {}, "'.example.com' has an empty label", id="leading-dot"
        ),
        pytest.param(
            "example.com..", {}, "'example.com..' has an empty label", id="two-dots"
        ),
        pytest.param(
            f"{'a' * 64}.com",
            {},
            f"label '{'a' * 64}' is longer than 63 octets",
            id="label-64",
        ),
        pytest.param(NAME_253 + "b", {}, "is longer than 253 octets", id="name-254"),
        # A Unicode label whose A-label is longer than 63 octets.
        pytest.param(
            "ü" * 60 + ".example",
            {},
            "is longer than 63 octets",
            id="a-label-too-long",
        ),
        pytest.param(
            "exa mple.com",
            {},
            "'exa mple.com': character ' ' is not allowed in a name",
            id="space",
        ),
        pytest.param(
            "example.com/evil",
            {},
            "character '/' is not allowed in a name",
            id="slash",
        ),
        pytest.param(
            "ex@mple.com", {}, "character '@' is not allowed in a name", id="at"
        ),
        pytest.param(
            "-www.example.com",
            {},
            "label '-www' starts or ends with '-'",
            id="leading-hyphen",
        ),
        pytest.param(
            "www-.example.com",
            {},
            "label 'www-' starts or ends with '-'",
            id="trailing-hyphen",
        ),
        pytest.param(
            "a_b.example.com",
            {},
            "label 'a_b' holds '_', not allowed here",
            id="underscore-in-identifier",
        ),
        pytest.param(
            "xn--zz.example",
            {},
            "label 'xn--zz' is not a valid A-label",
            id="bad-punycode",
        ),
        pytest.param(
            "a\u200db.example",
            {},
            "is not a valid IDNA label",
            id="zero-width-joiner",
        ),
        pytest.param(
            "192.0.2.1", {}, "'192.0.2.1' is an address, not a name", id="ip-address"
        ),
        pytest.param(
            "www.example.123",
            {},
            "'www.example.123' is an address, not a name",
            id="numeric-top-label",
        ),
        pytest.param(
            "www.example.com-",
            {},
            "label 'com-' starts or ends with '-'",
            id="hyphen-top-label",
        ),
        pytest.param(
            "*", {}, "'*' is allowed only as a leading '*.' label", id="star-alone"
        ),
        pytest.param(
            "www.*.example.com",
            {},
            "'*' is allowed only as a leading '*.' label",
            id="inner-star",
        ),
        pytest.param(
            "*.*.example.com",
            {},
            "'*' is allowed only as a leading '*.' label",
            id="two-wildcards",
        ),
        pytest.param(
            "w*w.example.com",
            {},
            "'*' is allowed only as a leading '*.' label",
            id="star-in-label",
        ),
        pytest.param(
            "*.example.com",
            {"field": "zone", "allow_wildcard": False},
            "zone: '*.example.com': a wildcard is not allowed",
            id="wildcard-refused",
        ),
    ],
)
def test_normalize_name_refuses(
    text: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_name(text, **kwargs)  # type: ignore[arg-type]

    assert message in str(caught.value)
    assert caught.value.field == kwargs.get("field", "identifier")


def test_normalize_name_cuts_a_long_input_short_in_the_message() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_name("a " * 5000)

    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # F12: the _acme-challenge label never goes through IDNA, the rest does.
        pytest.param(
            "_acme-challenge.büro.example",
            "_acme-challenge.xn--bro-hoa.example",
            id="F12-underscore-and-idn",
        ),
        pytest.param(
            "_ACME-Challenge.WWW.example.com.",
            "_acme-challenge.www.example.com",
            id="F13-F14",
        ),
        pytest.param(
            "_acme-challenge.host.example.com",
            "_acme-challenge.host.example.com",
            id="F08-delegated-zone",
        ),
    ],
)
def test_normalize_name_with_underscores(text: str, expected: str) -> None:
    assert normalize_name(text, allow_underscore=True) == expected


def test_normalize_name_refuses_a_non_ascii_underscore_label() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_name("_bü.example", "record_name", allow_underscore=True)

    assert str(caught.value) == (
        "record_name: '_bü.example': character 'ü' is not allowed in a name"
    )


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        pytest.param("example.com", "_acme-challenge.example.com", id="apex"),
        pytest.param("*.example.com", "_acme-challenge.example.com", id="wildcard"),
        pytest.param(
            "WWW.Example.com.", "_acme-challenge.www.example.com", id="F13-F14"
        ),
        pytest.param("büro.example", "_acme-challenge.xn--bro-hoa.example", id="F12"),
    ],
)
def test_validation_name(identifier: str, expected: str) -> None:
    assert validation_name(identifier) == expected


def test_validation_name_refuses_a_name_with_no_room_for_the_label() -> None:
    with pytest.raises(ValidationError) as caught:
        validation_name(NAME_253)

    assert caught.value.field == "identifier"
    assert "its validation name would be longer than 253 octets" in str(caught.value)


@pytest.mark.parametrize(
    ("identifier", "record_name", "targets", "expected"),
    [
        pytest.param(
            "www.example.com",
            "_acme-challenge.www.example.com",
            (),
            "_acme-challenge.www.example.com",
            id="expected",
        ),
        # F14: trailing dots on either side do not matter.
        pytest.param(
            "www.example.com.",
            "_acme-challenge.www.example.com.",
            (),
            "_acme-challenge.www.example.com",
            id="F14",
        ),
        # F13: nor does case.
        pytest.param(
            "WWW.example.COM",
            "_Acme-Challenge.www.EXAMPLE.com",
            (),
            "_acme-challenge.www.example.com",
            id="F13",
        ),
        pytest.param(
            "*.example.com",
            "_acme-challenge.example.com",
            (),
            "_acme-challenge.example.com",
            id="wildcard",
        ),
        pytest.param(
            "büro.example",
            "_acme-challenge.xn--bro-hoa.example",
            (),
            "_acme-challenge.xn--bro-hoa.example",
            id="F12",
        ),
        # F25: the target of a configured CNAME delegation.
        pytest.param(
            "www.example.com",
            "www.acme.example.org.",
            ("WWW.acme.example.org",),
            "www.acme.example.org",
            id="F25-cname-target",
        ),
    ],
)
def test_check_record_name_accepts(
    identifier: str, record_name: str, targets: tuple[str, ...], expected: str
) -> None:
    assert check_record_name(identifier, record_name, targets) == expected


@pytest.mark.parametrize(
    ("identifier", "record_name", "targets"),
    [
        # F24: another name's validation record.
        pytest.param(
            "www.example.com", "_acme-challenge.other.example.com", (), id="F24"
        ),
        pytest.param("www.example.com", "www.example.com", (), id="no-label"),
        pytest.param("www.example.com", "_acme-challenge.example.com", (), id="parent"),
        pytest.param(
            "*.example.com",
            "_acme-challenge.www.example.com",
            (),
            id="wildcard-below",
        ),
        pytest.param("example.com", "_dmarc.example.com", (), id="other-service"),
        pytest.param(
            "www.example.com",
            "evil.example.org",
            ("www.acme.example.org",),
            id="not-the-cname-target",
        ),
    ],
)
def test_check_record_name_refuses(
    identifier: str, record_name: str, targets: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        check_record_name(identifier, record_name, targets)

    assert caught.value.field == "record_name"
    assert repr(record_name) in str(caught.value)
    assert validation_name(identifier) in str(caught.value)


def test_check_record_name_names_a_bad_identifier() -> None:
    with pytest.raises(ValidationError) as caught:
        check_record_name("bad..example.com", "_acme-challenge.bad..example.com")

    assert caught.value.field == "identifier"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(VALUE, id="digest"),
        pytest.param("A" * 43, id="letters"),
        pytest.param("-_" * 21 + "0", id="url-safe-alphabet"),
    ],
)
def test_check_txt_value_accepts(value: str) -> None:
    assert check_txt_value(value) == value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # F23: short, padded, or not a digest at all.
        pytest.param(
            VALUE[:42], f"got 42 characters starting {VALUE[:6]!r}", id="F23-42"
        ),
        pytest.param(VALUE + "=", "got 44 characters", id="F23-padding"),
        pytest.param(
            VALUE[:42] + "=",
            "got 43 characters starting "
            f"{VALUE[:6]!r}; '=' padding is not part of a dns-01 value",
            id="F23-padding-43",
        ),
        pytest.param(
            "v=spf1 include:evil.test",
            "got 24 characters starting 'v=spf1'",
            id="F23-spf",
        ),
        pytest.param(
            VALUE[:42] + "+",
            "; '+' and '/' are standard base64, not base64url",
            id="standard-base64",
        ),
        pytest.param(VALUE + "\n", "got 44 characters", id="newline"),
        pytest.param('"' + VALUE[:41] + '"', "got 43 characters", id="quoted"),
        pytest.param("", "got 0 characters starting ''", id="empty"),
    ],
)
def test_check_txt_value_refuses(value: str, shown: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_txt_value(value)

    assert caught.value.field == "value"
    assert shown in str(caught.value)


def test_check_txt_value_echoes_only_a_short_prefix() -> None:
    planted = "v=spf1 include:attacker.example.net ~all"

    with pytest.raises(ValidationError) as caught:
        check_txt_value(planted)

    assert "attacker" not in str(caught.value)


def test_dns01_value_is_the_unpadded_base64url_digest() -> None:
    key_authorization = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumbprint"
    digest = hashlib.sha256(key_authorization.encode()).digest()

    value = dns01_value(key_authorization)

    assert value == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert check_txt_value(value) == value


@pytest.mark.parametrize(
    ("name", "zone", "expected"),
    [
        pytest.param(
            "_acme-challenge.www.example.com",
            "example.com",
            "_acme-challenge.www",
            id="below",
        ),
        pytest.param("example.com", "example.com", "@", id="apex"),
        # F15: only the trailing zone is stripped.
        pytest.param(
            "_acme-challenge.example.com.foo.example.com",
            "example.com",
            "_acme-challenge.example.com.foo",
            id="F15",
        ),
        # F07: a deep name in a shallow zone.
        pytest.param(
            "_acme-challenge.baz.bar.example.org",
            "example.org",
            "_acme-challenge.baz.bar",
            id="F07",
        ),
        # F08: the validation name is its own zone.
        pytest.param(
            "_acme-challenge.host.example.com",
            "_acme-challenge.host.example.com",
            "@",
            id="F08",
        ),
        pytest.param(
            "_ACME-challenge.WWW.example.com.",
            "Example.COM.",
            "_acme-challenge.www",
            id="F13-F14",
        ),
        pytest.param(
            "_acme-challenge.büro.example",
            "xn--bro-hoa.example",
            "_acme-challenge",
            id="F12",
        ),
    ],
)
def test_relative_name(name: str, zone: str, expected: str) -> None:
    assert relative_name(name, zone) == expected


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        pytest.param("www.example.com", "other.com", id="other-zone"),
        # F09: a shared suffix is not a label boundary.
        pytest.param("www.training-example.com", "example.com", id="F09"),
        pytest.param("example.com", "www.example.com", id="zone-below-name"),
    ],
)
def test_relative_name_refuses_a_name_outside_the_zone(name: str, zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        relative_name(name, zone)

    assert str(caught.value) == (f"record_name: {name!r} is not inside zone {zone!r}")
