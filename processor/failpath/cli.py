"""The failpath / agent-debug command line. Commands parse arguments and call into the package; no logic here."""

import argparse
import asyncio
import gc
import json
import logging
import re
import signal
import sqlite3
import sys
import time
from dataclasses import asdict
from pathlib import Path

from failpath import __version__
from failpath.config import (
    SEARCH_ORDER,
    Config,
    ConfigError,
    ConfigSource,
    config_warnings,
    find_config,
    load_config,
    load_found,
)
from failpath.config_types import parse_duration
from failpath.dashboard.server import DashboardServer
from failpath.demo.runner import demo
from failpath.diagnosis.report import verdict_text
from failpath.diagnosis.trace_files import TraceFileError, read_traces
from failpath.listen import ListenError, connect_address
from failpath.logs import configure
from failpath.offline_diagnosis import OfflineDiagnosis
from failpath.packets import reemit
from failpath.packets.packet import Packet
from failpath.packets.reader import PacketError, load_file, resolve
from failpath.packets.render import buckets_text, list_text, replay_text
from failpath.pipeline import Pipeline
from failpath.store.packets import PacketStore
from failpath.store.private_files import writable_dir_problem
from failpath.store.spans import TraceNotFound, read_trace

log = logging.getLogger("failpath")
_TRACE_PREFIX = re.compile(r"^[0-9a-fA-F]{8,32}$")


def _stop_on_signals() -> asyncio.Event:
    """An event SIGTERM and SIGINT set, on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve(config: Config, source: ConfigSource) -> None:
    pipeline = Pipeline(config)
    stop = _stop_on_signals()
    try:
        await pipeline.start()
        # What is alive now (libraries, compiled detectors, config) lives as long as the process: kept out of
        # the collector's full passes, which otherwise walk it all (a pause of ~40 ms under load, ~18 after).
        gc.freeze()
        log.info("failpath ready", extra={"version": __version__, **_next_steps(config, source, pipeline)})
        await stop.wait()
    finally:
        # Also after a failed start: whatever did start is stopped and flushed.
        await pipeline.shutdown()


def _next_steps(config: Config, source: ConfigSource, pipeline: Pipeline) -> dict[str, str]:
    """What a person does next: where to point an agent, where data goes, how to see failures."""
    steps: dict[str, str] = {}
    otlp = config.receivers.otlp
    for name, receiver, settings in (("agents", pipeline.http, otlp.http), ("agents_grpc", pipeline.grpc, otlp.grpc)):
        if receiver is not None:
            address = connect_address(settings.endpoint, receiver.port)
            steps[name] = f"OTEL_EXPORTER_OTLP_ENDPOINT={'https' if settings.tls else 'http'}://{address}"
    steps["data_dir"] = str(Path(config.data_dir).absolute())
    # The commands find this config by themselves unless it was named where they would not look.
    flag = "" if find_config(None).path == source.path else f" --config {source.path}"
    steps["failures"] = f"failpath buckets{flag}"
    if pipeline.dashboard is not None:
        steps["dashboard"] = pipeline.dashboard.url
    return steps


def _load(path: Path) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"failpath: {error}", file=sys.stderr)
        return None


def _config(args: argparse.Namespace) -> tuple[Config, ConfigSource]:
    """The command's config, found the same way by every command; a config that cannot be used ends the
    command (exit 2) with the reason."""
    try:
        return load_found(args.config)
    except ConfigError as error:
        print(f"failpath: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _where(config: Config, source: ConfigSource) -> str:
    """Which config and data directory a command used, for its error messages."""
    return (
        f"data_dir {Path(config.data_dir).absolute()}, config {source.describe()}; "
        "pass --config FILE or set FAILPATH_CONFIG for another"
    )


def _data_dir_problem(config: Config) -> str | None:
    problem = writable_dir_problem(Path(config.data_dir))
    return f"data_dir {config.data_dir}: {problem}" if problem else None


def cmd_serve(args: argparse.Namespace) -> int:
    config, source = _config(args)
    configure(config.logging.level, config.logging.format)
    problem = _data_dir_problem(config)
    if problem:
        log.error("cannot start", extra={"error": problem, "config": source.describe()})
        return 2
    log.info("config", extra={"config": source.describe(), "data_dir": str(Path(config.data_dir).absolute())})
    for warning in config_warnings(config):
        log.warning(warning)
    try:
        asyncio.run(_serve(config, source))
    except ListenError as error:
        log.error("cannot start", extra={"error": str(error)})
        return 1
    except (OSError, sqlite3.Error) as error:
        # The data dir changed under us, or the store cannot be opened: one line, not a traceback.
        log.error(
            "cannot start", extra={"error": f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}"}
        )
        return 1
    return 0


async def _dashboard(config: Config) -> None:
    dashboard = DashboardServer(config.dashboard, *config.packet_paths(), config.packets.buckets)
    stop = _stop_on_signals()
    await dashboard.start()
    try:
        await stop.wait()
    finally:
        await dashboard.shutdown(asyncio.get_running_loop().time() + 5)


def cmd_demo(args: argparse.Namespace) -> int:
    """A scripted agent's healthy and failing runs through failpath, then its buckets and a replay."""
    config, source = _config(args)
    try:
        return demo(config, source.path, sys.stdout)
    except RuntimeError as error:
        print(f"failpath: {error}", file=sys.stderr)
        return 1


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The dashboard alone over the config's data_dir (read-only), e.g. after the service has stopped."""
    config, _ = _config(args)
    configure(config.logging.level, config.logging.format)
    try:
        asyncio.run(_dashboard(config))
    except ListenError as error:
        log.error("cannot start", extra={"error": str(error)})
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    if config is None:
        return 2
    problem = _data_dir_problem(config)
    if problem:
        print(f"{args.file}: {problem}", file=sys.stderr)
        return 2
    for warning in config_warnings(config):
        print(f"{args.file}: warning: {warning}")
    print(f"{args.file}: ok")
    return 0


def _read_packet(args: argparse.Namespace) -> Packet | None:
    """A packet file needs no config; a trace id is looked up in the index of the config's data_dir."""
    try:
        if Path(args.packet).is_file():
            return load_file(Path(args.packet))
        config, source = _config(args)
        try:
            return load_file(resolve(args.packet, *config.packet_paths()))
        except PacketError as error:
            raise PacketError(f"{error} ({_where(config, source)})") from None
    except PacketError as error:
        print(f"failpath: {error}", file=sys.stderr)
        return None


def cmd_replay(args: argparse.Namespace) -> int:
    packet = _read_packet(args)
    if packet is None:
        return 2
    if args.otlp:
        request = reemit.to_request(packet)
        try:
            reemit.send(request, args.otlp)
        except reemit.ReemitError as error:
            print(f"failpath: cannot send the replay: {error}", file=sys.stderr)
            return 1
        new_trace = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        print(f"replayed {packet['trace_id']} as trace {new_trace} to {args.otlp}")
        return 0
    print(json.dumps(packet, indent=2) if args.json else replay_text(packet))
    return 0


def cmd_packets_show(args: argparse.Namespace) -> int:
    packet = _read_packet(args)
    if packet is None:
        return 2
    print(json.dumps(packet, indent=2))
    return 0


def _index(args: argparse.Namespace) -> PacketStore | None:
    config, source = _config(args)
    try:
        return PacketStore(*config.packet_paths(), readonly=True)
    except (FileNotFoundError, OSError) as error:
        print(f"failpath: no packets yet: {error} ({_where(config, source)})", file=sys.stderr)
        return None


def _since_ns(text: str) -> int:
    return time.time_ns() - int(parse_duration(text) * 1e9)


def cmd_packets_list(args: argparse.Namespace) -> int:
    store = _index(args)
    if store is None:
        return 2
    try:
        packets = store.recent(_since_ns(args.since), args.workflow, args.bucket, args.limit)
    finally:
        store.close()
    if args.json:
        rows = [{**asdict(packet), "path": str(packet.path)} for packet in packets]
        print(json.dumps(rows, indent=2))
    else:
        print(list_text(packets))
    return 0


def cmd_buckets(args: argparse.Namespace) -> int:
    store = _index(args)
    if store is None:
        return 2
    since = _since_ns(args.since)
    try:
        counts = store.buckets(since, args.workflow)
        latest = {summary.bucket: store.recent(since, args.workflow, summary.bucket, 3) for summary in counts}
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "bucket": summary.bucket,
                        "count": summary.count,
                        "top_workflows": dict(summary.workflows),
                        "top_models": dict(summary.models),
                        "latest": [packet.trace_id for packet in latest[summary.bucket]],
                    }
                    for summary in counts
                ],
                indent=2,
            )
        )
    else:
        print(buckets_text(counts, latest))
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    """A file of traces, or a kept trace by id prefix, diagnosed as the service would."""
    config, used = _config(args)
    source = Path(args.source)
    try:
        if source.exists():
            traces = read_traces(source)
        elif _TRACE_PREFIX.match(args.source):
            try:
                traces = [read_trace(config.data_path(config.exporters.store.path), args.source)]
            except TraceNotFound as error:
                raise TraceNotFound(f"{error} ({_where(config, used)})") from None
        else:
            print(f"failpath: {args.source}: no such file, and not a trace id (8 to 32 hex digits)", file=sys.stderr)
            return 2
    except (TraceFileError, TraceNotFound) as error:
        print(f"failpath: {error}", file=sys.stderr)
        return 2
    diagnosis = OfflineDiagnosis(config)
    verdicts = [diagnosis.diagnose(trace) for trace in traces]
    if args.json:
        print(json.dumps(verdicts, indent=2))
    else:
        print("\n\n".join(verdict_text(verdict) for verdict in verdicts))
    return 0


def _duration(text: str) -> str:
    parse_duration(text)  # raises ValueError, which argparse reports as an invalid value
    return text


EXAMPLES = (
    ("serve", "failpath serve --config config/failpath.yaml"),
    ("demo", "failpath demo"),
    ("buckets", "failpath buckets --since 24h"),
    ("packets list", "failpath packets list --bucket tool_execution"),
    ("packets show", "failpath packets show 4bf92f35"),
    ("replay", "failpath replay data/packets/2026-12-06/4bf92f3577b34da6a3ce929d0e0e4736.json"),
    ("diagnose", "failpath diagnose spans.jsonl"),
    ("dashboard", "failpath dashboard"),
    ("check-config", "failpath check-config config/failpath.yaml"),
)


def build_parser() -> argparse.ArgumentParser:
    examples = "\n".join(f"  {command:14} {example}" for command, example in EXAMPLES)
    parser = argparse.ArgumentParser(
        prog="failpath",
        description="OTLP span processor for AI-agent traces.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"each command, with an example:\n{examples}\n\n"
        f"The config: {SEARCH_ORDER}, else the built-in defaults.\n"
        "A relative data_dir is taken from the directory failpath is started in.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the processor")
    serve.add_argument("--config", type=Path, help=f"the YAML config (else: {SEARCH_ORDER}, else built-in defaults)")
    serve.set_defaults(run=cmd_serve)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", type=Path)
    check.set_defaults(run=cmd_check_config)

    config_help = f"the config failpath runs with, for its data_dir (else: {SEARCH_ORDER})"
    replay = commands.add_parser("replay", help="what happened in a failed run, where it broke, what to do")
    replay.add_argument("packet", help="a packet file, or a trace id (or 8+ leading hex digits of one)")
    replay.add_argument("--json", action="store_true", help="print the whole packet as JSON")
    replay.add_argument(
        "--otlp",
        metavar="ENDPOINT",
        help="send the steps as a new trace (linked to the original) to host:port (gRPC) or http(s)://... (HTTP)",
    )
    replay.add_argument("--config", type=Path, help=config_help)
    replay.set_defaults(run=cmd_replay)

    packets = commands.add_parser("packets", help="list or show replay packets")
    packet_commands = packets.add_subparsers(dest="packets_command", required=True)
    listing = packet_commands.add_parser("list", help="recent packets, newest first")
    listing.add_argument("--since", type=_duration, default="24h", help="how far back (default 24h)")
    listing.add_argument("--workflow")
    listing.add_argument("--bucket")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--config", type=Path, help=config_help)
    listing.set_defaults(run=cmd_packets_list)
    show = packet_commands.add_parser("show", help="one packet as JSON")
    show.add_argument("packet", help="a packet file, or a trace id (or 8+ leading hex digits of one)")
    show.add_argument("--config", type=Path, help=config_help)
    show.set_defaults(run=cmd_packets_show)

    diagnose = commands.add_parser(
        "diagnose",
        help="where a run broke and why, from an OTLP file or a stored trace, without the service",
        description="Diagnose traces as failpath would: redacted, read with your agents.signals, blamed with "
        "your bucket rules. Example: failpath diagnose spans.jsonl --config my.yaml",
    )
    diagnose.add_argument("source", help="an OTLP/JSON, JSON-lines or protobuf file, or a stored trace id prefix")
    diagnose.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    diagnose.add_argument("--config", type=Path, help=f"the config to diagnose with (else: {SEARCH_ORDER})")
    diagnose.set_defaults(run=cmd_diagnose)

    dashboard = commands.add_parser(
        "dashboard",
        help="the failing runs as web pages, read-only over the config's data_dir",
        description="Serve the dashboard on dashboard.endpoint (default 127.0.0.1:13134) without the service. "
        "Example: failpath dashboard --config config/failpath.yaml",
    )
    dashboard.add_argument("--config", type=Path, help=config_help)
    dashboard.set_defaults(run=cmd_dashboard)

    demo_command = commands.add_parser(
        "demo",
        help="run a scripted agent through failpath and show its failures",
        description="Send a scripted agent's runs (healthy ones, one failure per bucket, a retried run; no model, "
        "no network beyond 127.0.0.1) through the failpath of the config, starting one if none runs, then show "
        "the buckets and one replay. Example: failpath demo",
    )
    demo_command.add_argument("--config", type=Path, help=config_help)
    demo_command.set_defaults(run=cmd_demo)

    buckets = commands.add_parser("buckets", help="failures per bucket, top workflows and latest runs")
    buckets.add_argument("--since", type=_duration, default="24h", help="how far back (default 24h)")
    buckets.add_argument("--workflow")
    buckets.add_argument("--json", action="store_true")
    buckets.add_argument("--config", type=Path, help=config_help)
    buckets.set_defaults(run=cmd_buckets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
