"""ChallengeService: managed challenge configs, records and operations."""

from __future__ import annotations

from hub_client.hub.v1 import challenge_pb2_grpc


class ChallengeService(challenge_pb2_grpc.ChallengeServiceServicer):
    def __init__(self, hub: object) -> None:
        self.hub = hub
