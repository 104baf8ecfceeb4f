"""One module per hub.v1 service."""
