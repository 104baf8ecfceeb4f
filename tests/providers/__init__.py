"""Tests of the DNS providers, the zone discovery and the propagation checker."""
