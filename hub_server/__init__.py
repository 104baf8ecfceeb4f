"""The hub: gRPC servicers, authorisation, domain rules and operations."""
