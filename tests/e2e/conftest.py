"""End-to-end fixtures: BIND9, the hub, the bridge process and Pebble on loopback."""

from tests.bridge.stack import (  # noqa: F401
    bridge_process,
    consumer,
    example_bind,
    example_hub,
    pebble,
    www_only_consumer,
)
