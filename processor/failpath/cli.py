"""The failpath / agent-debug command line. Commands parse arguments and call into the package; no logic here."""

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from failpath import __version__
from failpath.config import DEFAULT_CONFIG, Config, ConfigError, config_warnings, load_config
from failpath.listen import ListenError
from failpath.logs import configure
from failpath.pipeline import Pipeline

log = logging.getLogger("failpath")


async def _serve(config: Config) -> None:
    pipeline = Pipeline(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await pipeline.start()
        log.info("failpath ready", extra={"version": __version__})
        await stop.wait()
    finally:
        # Also after a failed start: whatever did start is stopped and flushed.
        await pipeline.shutdown()


def _load(path: Path) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"failpath: {error}", file=sys.stderr)
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    configure(config.logging.level, config.logging.format)
    for warning in config_warnings(config):
        log.warning(warning)
    try:
        asyncio.run(_serve(config))
    except ListenError as error:
        log.error("cannot start", extra={"error": str(error)})
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    if config is None:
        return 2
    for warning in config_warnings(config):
        print(f"{args.file}: warning: {warning}")
    print(f"{args.file}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="failpath", description="OTLP span processor for AI-agent traces.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the processor")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
    serve.set_defaults(run=cmd_serve)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", type=Path)
    check.set_defaults(run=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
