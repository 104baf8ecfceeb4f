"""A provider from outside the hub: it keeps TXT values in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from providers.base import Parameter, Provider, ProviderContext, TtlRange
from providers.errors import ZoneNotFoundError


class MemoryProvider(Provider):
    """Holds TXT values in a dict for the zones named in its ``zones`` parameter."""

    type_name: ClassVar[str] = "example-memory"
    title: ClassVar[str] = "In-memory example"
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("zones", "Zones served, comma separated"),
        Parameter("token", "A secret the example never uses", secret=True),
    )
    ttl_range: ClassVar[TtlRange] = TtlRange(minimum=30, maximum=600)

    def __init__(self, params: Mapping[str, str], context: ProviderContext) -> None:
        super().__init__(params, context)
        self.zones = [z.strip() for z in self.params["zones"].split(",") if z.strip()]
        self.values: dict[str, set[str]] = {}

    def find_zone(self, name: str) -> str:
        found = [z for z in self.zones if name == z or name.endswith("." + z)]
        if not found:
            raise ZoneNotFoundError(f"no zone holds {name}", provider=self.type_name)
        return max(found, key=len)

    def add_txt_value(self, zone: str, name: str, value: str, ttl: int) -> int:
        self.values.setdefault(name, set()).add(value)
        return self.ttl_range.clamp(ttl)

    def remove_txt_value(self, zone: str, name: str, value: str) -> None:
        self.values.get(name, set()).discard(value)
