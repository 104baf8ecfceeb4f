"""Fixtures for server tests: BIND9, PowerDNS and a hub checking on BIND9."""

from tests.server.challenge_support import bind, bind_hub, pdns  # noqa: F401
