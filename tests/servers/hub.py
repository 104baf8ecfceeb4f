"""The real hub, started as child processes on free loopback ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub_client.client import Credentials, HubClient
from tests.servers.ports import free_port

BIN = Path(sys.executable).parent


class HubServer:
    """``hub-server init`` then ``hub-server serve`` in ``workdir``.

    SQLite lives in ``workdir/var``; the embedded DNS server listens on a free
    port for ``demo.test`` unless ``env`` says otherwise. The child's output goes
    to ``workdir/hub.log``.
    """

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.dns_address = f"127.0.0.1:{free_port()}"
        self.server_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_LISTEN": self.address,
            "HUB_DATA_DIR": str(self.workdir / "var"),
            "HUB_EMBEDDED_DNS_LISTEN": self.dns_address,
            "HUB_EMBEDDED_DNS_ZONES": "demo.test",
            "HUB_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.log_path = self.workdir / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.client_id = ""
        self.secret = ""
        self.profile_path = self.workdir / "var" / "admin-credentials.json"

    def run_init(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "hub-server"), "init"],
            env=self.server_env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, timeout: float = 30.0) -> HubServer:
        result = self.run_init()
        if result.returncode != 0:
            raise RuntimeError(f"hub-server init failed: {result.stderr}")
        profile = json.loads(self.profile_path.read_text())
        self.client_id = profile["client_id"]
        self.secret = profile["client_secret"]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "hub-server"), "serve"],
            env=self.server_env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_serving(timeout)
        return self

    def _wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"hub-server exited:\n{self.log()}")
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hub-server did not start:\n{self.log()}")
                time.sleep(0.1)

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def env(self) -> dict[str, str]:
        """Environment for hubctl and the bridge, with admin credentials."""
        return {
            "HUB_ADDRESS": self.address,
            "HUB_CLIENT_ID": self.client_id,
            "HUB_CLIENT_SECRET": self.secret,
        }

    def client(self, credentials: Credentials | None = None) -> HubClient:
        return HubClient(
            self.address, credentials or Credentials(self.client_id, self.secret)
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a graceful exit; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
