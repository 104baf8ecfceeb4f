"""The behaviour every provider must show, as a test class each provider subclasses.

A provider's test module subclasses ``ProviderContract`` and defines a ``backend``
fixture that returns a ``ProviderHarness`` for a zone the back end serves::

    class TestMyProviderContract(ProviderContract):
        @pytest.fixture
        def backend(self, my_server) -> ProviderHarness:
            return ProviderHarness(provider=..., zone="example.com", ...)

Every test writes below a fresh label of its own, so one running server can serve
the whole class without the tests seeing each other's records.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from providers.base import Provider


@dataclass
class ProviderHarness:
    """A provider wired to a real back end, and a way to look behind its back.

    ``read_txt`` returns the TXT values stored at an absolute name, each as the
    back end holds it (a stored quote mark must show up). ``put_foreign_txt`` writes
    a value without going through the provider, as an administrator or an earlier
    run would have. ``read_ttl``, when given, returns the TTL stored at a name.
    """

    provider: Provider
    zone: str
    read_txt: Callable[[str], set[str]]
    put_foreign_txt: Callable[[str, str], None]
    read_ttl: Callable[[str], int] | None = None


def dns01_value(seed: str) -> str:
    """A well-formed dns-01 value: 43 characters of unpadded base64url."""
    digest = hashlib.sha256(seed.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


VALUE_A = dns01_value("value A")
VALUE_B = dns01_value("value B")
VALUE_OLD = dns01_value("left over by an abandoned run")


class ProviderContract:
    """Test cases every provider passes; subclasses supply the ``backend`` fixture."""

    @pytest.fixture
    def backend(self) -> ProviderHarness:
        raise NotImplementedError("a provider's test class supplies this fixture")

    @pytest.fixture
    def identifier(self, backend: ProviderHarness) -> str:
        """A name inside the zone that no other test uses."""
        return f"t{uuid.uuid4().hex[:10]}.{backend.zone}"

    @pytest.fixture
    def validation_name(self, identifier: str) -> str:
        return f"_acme-challenge.{identifier}"

    def test_find_zone_for_a_validation_name(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        assert backend.provider.find_zone(validation_name) == backend.zone

    def test_add_then_remove(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        provider, zone = backend.provider, backend.zone

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        assert backend.read_txt(validation_name) == {VALUE_A}

        provider.remove_txt_value(zone, validation_name, VALUE_A)
        assert backend.read_txt(validation_name) == set()

    def test_adding_a_present_value_again_keeps_one(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        provider, zone = backend.provider, backend.zone

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        provider.add_txt_value(zone, validation_name, VALUE_A, 60)

        assert backend.read_txt(validation_name) == {VALUE_A}

    def test_two_values_at_one_name(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        # The apex and the wildcard identifier share one validation name, and
        # both values must be served at once (F01, F02).
        provider, zone = backend.provider, backend.zone

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        provider.add_txt_value(zone, validation_name, VALUE_B, 60)
        assert backend.read_txt(validation_name) == {VALUE_A, VALUE_B}

        provider.remove_txt_value(zone, validation_name, VALUE_A)
        assert backend.read_txt(validation_name) == {VALUE_B}

    def test_foreign_values_untouched(
        self, backend: ProviderHarness, identifier: str, validation_name: str
    ) -> None:
        # F03: a manual proof at the validation name and an SPF record at the
        # identifier belong to someone else.
        provider, zone = backend.provider, backend.zone
        backend.put_foreign_txt(validation_name, "manual-proof")
        backend.put_foreign_txt(identifier, "v=spf1 -all")

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        assert backend.read_txt(validation_name) == {"manual-proof", VALUE_A}
        assert backend.read_txt(identifier) == {"v=spf1 -all"}

        provider.remove_txt_value(zone, validation_name, VALUE_A)
        assert backend.read_txt(validation_name) == {"manual-proof"}
        assert backend.read_txt(identifier) == {"v=spf1 -all"}

    def test_has_txt_value_tells_what_is_there(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        # The hub asks before adding, so cleanup never removes a value it found.
        provider, zone = backend.provider, backend.zone
        backend.put_foreign_txt(validation_name, VALUE_B)

        before = provider.has_txt_value(zone, validation_name, VALUE_A)
        foreign = provider.has_txt_value(zone, validation_name, VALUE_B)
        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        after = provider.has_txt_value(zone, validation_name, VALUE_A)
        provider.remove_txt_value(zone, validation_name, VALUE_A)

        assert (before, foreign, after) == (False, True, True)

    def test_stale_leftover_is_not_a_conflict(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        # F05: a value from an abandoned run is still there.
        provider, zone = backend.provider, backend.zone
        backend.put_foreign_txt(validation_name, VALUE_OLD)

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)
        assert backend.read_txt(validation_name) == {VALUE_OLD, VALUE_A}

        provider.remove_txt_value(zone, validation_name, VALUE_A)
        assert backend.read_txt(validation_name) == {VALUE_OLD}

    @pytest.mark.parametrize(
        "other_values",
        [
            pytest.param([], id="name-absent"),
            pytest.param([VALUE_B], id="other-value-present"),
        ],
    )
    def test_removing_an_absent_value_is_fine(
        self,
        backend: ProviderHarness,
        validation_name: str,
        other_values: list[str],
    ) -> None:
        provider, zone = backend.provider, backend.zone
        for value in other_values:
            provider.add_txt_value(zone, validation_name, value, 60)

        provider.remove_txt_value(zone, validation_name, VALUE_A)
        provider.remove_txt_value(zone, validation_name, VALUE_A)

        assert backend.read_txt(validation_name) == set(other_values)

    def test_value_stored_without_quotes(
        self, backend: ProviderHarness, validation_name: str
    ) -> None:
        # F16: the bare 43 characters are stored; a back end that wants quoted
        # text must not see them twice.
        provider, zone = backend.provider, backend.zone

        provider.add_txt_value(zone, validation_name, VALUE_A, 60)

        stored = backend.read_txt(validation_name)
        assert stored == {VALUE_A}
        assert all(len(value) == 43 and '"' not in value for value in stored)

    @pytest.mark.parametrize(
        ("requested", "expected"),
        [
            pytest.param("below", "minimum", id="below-minimum"),
            pytest.param("above", "maximum", id="above-maximum"),
            pytest.param("inside", "inside", id="inside-range"),
        ],
    )
    def test_ttl_clamped_to_range(
        self,
        backend: ProviderHarness,
        validation_name: str,
        requested: str,
        expected: str,
    ) -> None:
        # F20: the back end's range wins, and the caller learns the TTL written.
        provider, zone = backend.provider, backend.zone
        low, high = provider.ttl_range.minimum, provider.ttl_range.maximum
        inside = max(low, min(high, 300))
        ttls = {
            "below": low - 1,
            "above": high + 1,
            "inside": inside,
            "minimum": low,
            "maximum": high,
        }

        written = provider.add_txt_value(
            zone, validation_name, VALUE_A, ttls[requested]
        )

        assert written == ttls[expected]
        if backend.read_ttl is not None:
            assert backend.read_ttl(validation_name) == ttls[expected]

    def test_internationalised_name_sent_as_punycode(
        self, backend: ProviderHarness
    ) -> None:
        # F12: the hub hands over A-labels; "büro" is "xn--bro-hoa", and the
        # underscore label is passed through untouched.
        provider, zone = backend.provider, backend.zone
        label = f"xn--bro-hoa.t{uuid.uuid4().hex[:10]}"
        name = f"_acme-challenge.{label}.{zone}"

        provider.add_txt_value(zone, name, VALUE_A, 60)
        assert backend.read_txt(name) == {VALUE_A}

        provider.remove_txt_value(zone, name, VALUE_A)
        assert backend.read_txt(name) == set()
