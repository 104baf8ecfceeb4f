"""hubctl: the administrator's command line for the hub, a gRPC client."""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from hub_client import cli_admin, cli_dns
from hub_client.cli_common import DEFAULT_TIMEOUT, HubGroup, State, resolve_settings

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version() -> str:
    try:
        return metadata.version("challenge-hub")
    except metadata.PackageNotFoundError:
        return "unknown"


@click.group(cls=HubGroup, context_settings=_CONTEXT)
@click.option(
    "--address",
    envvar="HUB_ADDRESS",
    metavar="HOST:PORT",
    help="The hub's gRPC address [env HUB_ADDRESS; default 127.0.0.1:50051].",
)
@click.option(
    "--client-id",
    envvar="HUB_CLIENT_ID",
    help="API token client id [env HUB_CLIENT_ID].",
)
@click.option(
    "--client-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the token secret from this file [or env HUB_CLIENT_SECRET]; "
    "never a flag, which other users could see.",
)
@click.option(
    "--profile",
    envvar="HUB_PROFILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON profile (mode 0600) with address, client_id, client_secret and "
    "optional ca_file, cert_file, key_file [env HUB_PROFILE].",
)
@click.option(
    "--tls", is_flag=True, envvar="HUB_TLS", help="Use TLS with the system's roots."
)
@click.option(
    "--ca-file",
    envvar="HUB_CA_FILE",
    type=click.Path(dir_okay=False),
    help="CA certificate to trust; implies --tls [env HUB_CA_FILE].",
)
@click.option(
    "--cert-file",
    envvar="HUB_CERT_FILE",
    type=click.Path(dir_okay=False),
    help="Client certificate for mTLS; implies --tls [env HUB_CERT_FILE].",
)
@click.option(
    "--key-file",
    envvar="HUB_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="Private key of the client certificate [env HUB_KEY_FILE].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for each call.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(_version(), prog_name="hubctl")
@click.pass_context
def cli(
    ctx: click.Context,
    address: str | None,
    client_id: str | None,
    client_secret_file: Path | None,
    profile: Path | None,
    tls: bool,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    timeout: float,
    as_json: bool,
    verbose: bool,
) -> None:
    """Administer a Challenge Hub: principals, tokens, credentials, challenges.

    Connection settings come from flags, then HUB_* environment variables, then
    the profile. Exit status: 0 on success, 1 when the hub refuses, 2 on bad usage.
    """
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    if ctx.resilient_parsing:
        return
    settings = resolve_settings(
        address=address,
        client_id=client_id,
        client_secret_file=client_secret_file,
        profile=profile,
        tls=tls,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        timeout=timeout,
    )
    ctx.obj = State(settings=settings, json=as_json)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    Add `eval "$(hubctl completion bash)"` to ~/.bashrc, or the zsh line to ~/.zshrc.
    """
    complete_class = get_completion_class(shell)
    assert complete_class is not None  # click ships both shells
    script = complete_class(cli, {}, "hubctl", "_HUBCTL_COMPLETE").source()
    click.echo(script)


for _command in (*cli_admin.COMMANDS, *cli_dns.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``hubctl`` console script."""
    cli.main(prog_name="hubctl")
