"""Real servers (BIND9 and friends) that tests start on loopback ports."""
