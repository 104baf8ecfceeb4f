"""Fixtures for bridge tests: BIND9, a provisioned hub and consumer tokens."""

from tests.bridge.stack import (  # noqa: F401
    consumer,
    example_bind,
    example_hub,
    www_only_consumer,
)
