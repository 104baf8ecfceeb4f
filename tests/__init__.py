"""The hub's test suite: unit tests and tests against real servers on loopback."""
