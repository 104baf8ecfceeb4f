"""hub-server: parse arguments, set up logging, then init or serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from hub_server.config import ConfigError, Settings, load_settings
from storage.errors import HubError


class JsonFormatter(logging.Formatter):
    """One JSON object per log line."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    logging.basicConfig(
        level=settings.log_level.upper(), handlers=[handler], force=True
    )
    # httpx logs every request line, URL included, at INFO: too chatty beside
    # one line per call, and no URL belongs in the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hub-server", description="Challenge Hub: dns-01 records for ACME clients"
    )
    parser.add_argument("--config", help="TOML settings file (also HUB_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server")
    init = commands.add_parser(
        "init", help="prepare the database, master key and first Administrator token"
    )
    init.add_argument(
        "--show-secret",
        action="store_true",
        help="also print the secret (only on a terminal nobody else can read)",
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"hub-server: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)

    from hub_server import app

    try:
        if args.command == "init":
            path, created = app.initialise(settings)
            if not created:
                print(f"already initialised; administrator credentials: {path}")
                return 0
            print(f"administrator credentials written to {path} (mode 0600)")
            if args.show_secret:
                print(path.read_text(), end="")
            return 0
        asyncio.run(app.serve(settings))
    except HubError as exc:
        print(f"hub-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"hub-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
