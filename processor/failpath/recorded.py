"""Re-run agent code against what a failed run actually got: a replay packet's recorded tool results and
model outputs, in the order the run produced them.

    from failpath.recorded import load

    run = load("d2c9dca8")                  # a packet file, or a trace id (prefix) from the store
    search = run.stub("search")             # hands back search's recorded results, in order
    results = [search(query) for query in ("refund policy", "order 1234")]

Outputs are what redaction left: the content where the config keeps content, else a summary such as
`<summary:chars=N:hmac=...:hits=...>`, cut to packets.max_text_chars.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from failpath.config import load_found
from failpath.packets.packet import Packet
from failpath.packets.reader import load_file, resolve


@dataclass(frozen=True, slots=True)
class RecordedCall:
    kind: Literal["tool", "model"]
    # The tool's name, or the model's.
    name: str
    span_id: str
    output: str | None
    failed: bool


class RecordingExhausted(LookupError):
    """The code under replay called a tool more often than the recorded run did."""


class RecordedRun:
    def __init__(self, packet: Packet) -> None:
        self.packet = packet
        self.trace_id: str = packet["trace_id"]
        self.failure_bucket: str = packet["failure_bucket"]
        order = {step["span_id"]: step["index"] for step in packet["steps"]}
        calls = [
            (
                order.get(event["span_id"], len(order) + index),
                RecordedCall(
                    "tool", event["tool"] or "", event["span_id"], event["result_summary"], not event["success"]
                ),
            )
            for index, event in enumerate(packet["tool_events"])
        ]
        calls += [
            (
                order.get(call["span_id"], len(order) + index),
                RecordedCall(
                    "model", call["model"] or "", call["span_id"], call["output_summary"], call["status"] == "error"
                ),
            )
            for index, call in enumerate(packet["model_calls"])
        ]
        # Steps in run order; calls after the failure (retries) keep their recorded order at the end.
        self.calls = [call for _, call in sorted(calls, key=lambda pair: pair[0])]

    def tool_outputs(self, tool: str | None = None) -> list[str | None]:
        return [call.output for call in self.calls if call.kind == "tool" and tool in (None, call.name)]

    def model_outputs(self) -> list[str | None]:
        return [call.output for call in self.calls if call.kind == "model"]

    def stub(self, tool: str) -> Callable[..., str | None]:
        """A stand-in for the tool: each call returns its next recorded result, whatever the arguments."""
        outputs = iter(self.tool_outputs(tool))

        def recorded(*args: object, **kwargs: object) -> str | None:
            try:
                return next(outputs)
            except StopIteration:
                raise RecordingExhausted(f"the recorded run called {tool!r} fewer times") from None

        return recorded


def load(reference: str | Path, config: Path | None = None) -> RecordedRun:
    """A packet file, or the packet of a trace id (or a unique prefix of 8+ hex digits) in the store of the
    failpath that runs with config (found as the CLI finds it when None). Raises
    failpath.packets.reader.PacketError with the reason."""
    path = Path(reference)
    if not path.exists():
        settings, _ = load_found(config)
        path = resolve(str(reference), *settings.packet_paths())
    return RecordedRun(load_file(path))
