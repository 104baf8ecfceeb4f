"""Run the installed hubctl console script as a subprocess, the way users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HUBCTL = Path(sys.executable).with_name("hubctl")


@dataclass
class Result:
    """What one hubctl run printed and how it exited."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Hubctl = Callable[..., Result]


def run_hubctl(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None
) -> Result:
    """Run hubctl with only the HUB_* variables in ``env``, never the caller's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    environment.update(env or {})
    completed = subprocess.run(
        [str(HUBCTL), *args],
        env=environment,
        input=input,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="module")
def hubctl(hub: Any) -> Hubctl:
    """hubctl connected to the module's hub as its Administrator."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> Result:
        return run_hubctl(*args, env={**hub.env(), **(env or {})}, input=input)

    return run
