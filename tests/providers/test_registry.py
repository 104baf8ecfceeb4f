"""Provider types are found through entry points, the hub's own and third parties'."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.base import (
    ProviderContext,
    provider_type,
    provider_types,
    reload_provider_types,
)
from providers.errors import UnknownProviderError

PLUGIN_SOURCE = Path(__file__).parent / "plugin_example"


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    reload_provider_types()
    yield
    reload_provider_types()


@pytest.mark.parametrize(
    ("type_name", "secrets"),
    [
        pytest.param("powerdns", {"api_key"}, id="powerdns"),
        pytest.param("embedded", set(), id="embedded"),
    ],
)
def test_built_in_types_registered(
    fresh_registry: None, type_name: str, secrets: set[str]
) -> None:
    cls = provider_types()[type_name]

    assert cls.type_name == type_name
    assert {p.name for p in cls.parameters if p.secret} == secrets


def test_unknown_type(fresh_registry: None) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        provider_type("no-such-dns")
    assert "no-such-dns" in str(caught.value)


@pytest.fixture
def installed_plugin(tmp_path: Path, fresh_registry: None) -> Iterator[Path]:
    """The example package installed into a directory not yet on ``sys.path``."""
    # Build and install from a copy, so the build leaves nothing in the source
    # tree, and into a directory of its own rather than the shared environment.
    source = tmp_path / "source"
    target = tmp_path / "site"
    shutil.copytree(PLUGIN_SOURCE, source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield target
    for module in [m for m in sys.modules if m.startswith("hub_plugin_example")]:
        del sys.modules[module]


def test_third_party_provider_found(
    installed_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "example-memory" not in provider_types()

    monkeypatch.syspath_prepend(str(installed_plugin))
    assert "example-memory" not in provider_types()  # read once, kept
    reload_provider_types()
    cls = provider_type("example-memory")

    assert {"powerdns", "embedded", "example-memory"} <= set(provider_types())
    params = cls.validate_parameters({"zones": "example.com", "token": "t"})
    provider = cls(params, ProviderContext())
    assert provider.find_zone("_acme-challenge.www.example.com") == "example.com"
    assert provider.add_txt_value("example.com", "x.example.com", "v", 5) == 30
