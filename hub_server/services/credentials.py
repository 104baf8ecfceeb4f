"""CredentialService: stored DNS provider credentials, secrets write-only."""

from __future__ import annotations

from hub_client.hub.v1 import credential_pb2_grpc


class CredentialService(credential_pb2_grpc.CredentialServiceServicer):
    def __init__(self, hub: object) -> None:
        self.hub = hub
