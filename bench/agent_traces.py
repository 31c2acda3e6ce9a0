"""Deterministic generator of realistic agent traces as pre-serialized OTLP requests.

Each run has 10-40 spans: a root invoke_agent (SERVER), a planner chat span, a retriever with an embeddings
child, 2-6 chat spans with GenAI attributes and prompt-like text, 3-10 execute_tool spans (some with an HTTP
client child) and a verifier. About 5% of runs fail in a tool with an exception event, about 3% are slow
(90 s more than any other run: longer than 75 s in all, where normal runs stay under 70 s). Spans are exported
in end-time order in batches, as a BatchSpanProcessor would, so most traces are split across requests.

Two profiles: "bench" (the figures since 2026-11-26: ~1.1 KB and ~7.5 attributes per span) and "realistic"
(issue 18's profile of agent traffic: ~2.4 KB and ~18 attributes per span, system instructions, input and
output messages and tool outputs of several hundred to 2,000 characters, and in about one text in seven an
e-mail address, a phone number, an API key, a card number or an IBAN).
"""

import argparse
import random
import struct
from collections import defaultdict
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value

WORDS = (
    *("customer", "refund", "policy", "invoice", "shipment", "delayed", "order", "account", "password"),
    *("reset", "escalate", "ticket", "summary", "database", "query", "latency", "timeout", "retry"),
    *("budget", "context", "window", "model", "verifier", "citation", "document", "search"),
)
MODELS = ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-pro", "llama-3.3-70b")
TOOLS = ("search_kb", "sql_query", "http_get", "run_python", "send_email", "create_ticket")
SERVICES = ("support-agent", "research-agent", "ops-agent")
PROFILES = ("bench", "realistic")
# Planted in the realistic profile's texts: what redaction must find in real traffic.
SENSITIVE = (
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "sk-proj-Z8x3Kq0Lw2Vb7Nc5Rt9Ym4Hd1Jf6Gs8Pa3Ue0Qi",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
)


def _text(rng: random.Random, low: int, high: int) -> str:
    size = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _sensitive(rng: random.Random, text: str) -> str:
    """About one text in seven carries a personal or secret value somewhere inside."""
    if rng.random() >= 0.15:
        return text
    at = rng.randint(0, len(text))
    return f"{text[:at]} {rng.choice(SENSITIVE)} {text[at:]}"


def _resource(service: str) -> Resource:
    attributes = [
        ("service.name", service),
        ("service.version", "1.8.2"),
        ("service.namespace", "agents"),
        ("deployment.environment", "production"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.version", "1.45.2"),
        ("host.name", f"{service}-7d9f8-x2k4q"),
        ("host.arch", "amd64"),
        ("os.type", "linux"),
        ("process.runtime.name", "cpython"),
        ("process.runtime.version", "3.11.7"),
        ("process.pid", 4242),
        ("k8s.namespace.name", "agents"),
        ("k8s.pod.name", f"{service}-7d9f8-x2k4q"),
        ("cloud.region", "eu-west-1"),
    ]
    return Resource(attributes=[key_value(k, v) for k, v in attributes])


SCOPES = (
    InstrumentationScope(name="opentelemetry.instrumentation.openai", version="0.48.0"),
    InstrumentationScope(name="agent.framework", version="2.3.1"),
    InstrumentationScope(name="opentelemetry.instrumentation.httpx", version="0.54b0"),
)


def _run(rng: random.Random, start: int, realistic: bool = False) -> list[tuple[int, Span]]:
    """One agent run: (scope index, span) pairs."""
    trace_id = rng.randbytes(16)
    session, user = rng.randbytes(8).hex(), f"user-{rng.randint(1, 5000)}"
    spans: list[tuple[int, Span]] = []
    model = rng.choice(MODELS)
    failing = rng.random() < 0.05

    def span(
        name: str,
        parent: bytes,
        begin: int,
        duration_ms: int,
        scope: int,
        kind: Span.SpanKind.ValueType,
        **attrs: object,
    ) -> Span:
        s = Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=parent,
            name=name,
            kind=kind,
            start_time_unix_nano=begin,
            end_time_unix_nano=begin + duration_ms * 1_000_000,
        )
        s.attributes.extend(key_value(k.replace("__", "."), v) for k, v in attrs.items())
        if realistic:
            s.attributes.extend(
                [
                    key_value("session.id", session),
                    key_value("enduser.id", user),
                    key_value("app.tenant", "acme"),
                    key_value("app.request_id", rng.randbytes(8).hex()),
                    key_value("agent.step.index", len(spans)),
                    key_value("agent.framework", "in-house"),
                ]
            )
        spans.append((scope, s))
        return s

    root = span(
        "invoke_agent support",
        b"",
        start,
        0,
        1,
        Span.SPAN_KIND_SERVER,
        gen_ai__operation__name="invoke_agent",
        gen_ai__agent__name="support",
        gen_ai__conversation__id=rng.randbytes(8).hex(),
        run__id=rng.randbytes(6).hex(),
    )
    clock = start + 5_000_000

    def chat(name: str, parent: bytes) -> None:
        nonlocal clock
        tokens_in, tokens_out = rng.randint(200, 6000), rng.randint(20, 800)
        duration = rng.randint(300, 4000)
        chat_span = span(
            name,
            parent,
            clock,
            duration,
            0,
            Span.SPAN_KIND_CLIENT,
            gen_ai__operation__name="chat",
            gen_ai__provider__name="openai",
            gen_ai__request__model=model,
            gen_ai__response__model=model,
            gen_ai__request__temperature=0.2,
            gen_ai__request__max_tokens=1024,
            gen_ai__usage__input_tokens=tokens_in,
            gen_ai__usage__output_tokens=tokens_out,
            gen_ai__response__finish_reasons="stop",
            gen_ai__response__id=rng.randbytes(10).hex(),
            gen_ai__prompt=_text(rng, 500, 2000),
            gen_ai__completion=_text(rng, 200, 1200),
        )
        if realistic:
            question, answer = _sensitive(rng, _text(rng, 300, 1200)), _sensitive(rng, _text(rng, 200, 800))
            chat_span.attributes.extend(
                [
                    key_value("gen_ai.system_instructions", _text(rng, 200, 600)),
                    key_value("gen_ai.input.messages", f'[{{"role": "user", "content": "{question}"}}]'),
                    key_value("gen_ai.output.messages", f'[{{"role": "assistant", "content": "{answer}"}}]'),
                    key_value("gen_ai.request.top_p", 0.9),
                    key_value("gen_ai.usage.cache_read_input_tokens", rng.randint(0, 2000)),
                ]
            )
        clock += duration * 1_000_000

    chat(f"chat {model}", root.span_id)
    retrieve = span(
        "retrieval search_kb",
        root.span_id,
        clock,
        180,
        1,
        Span.SPAN_KIND_CLIENT,
        gen_ai__operation__name="retrieval",
        gen_ai__data_source__id="kb-main",
        retrieval__top_k=5,
        retrieval__query=_text(rng, 40, 160),
        retrieval__documents=rng.randint(0, 8),
    )
    span(
        "embeddings text-embedding-3",
        retrieve.span_id,
        clock + 10_000_000,
        40,
        0,
        Span.SPAN_KIND_CLIENT,
        gen_ai__operation__name="embeddings",
        gen_ai__request__model="text-embedding-3-small",
        gen_ai__usage__input_tokens=rng.randint(10, 60),
    )
    clock += 200_000_000
    budget = rng.randint(10, 40) - len(spans) - 1
    failed_tool = False
    while budget > 0:
        if rng.random() < 0.4:
            chat(f"chat {model}", root.span_id)
            budget -= 1
            continue
        tool = rng.choice(TOOLS)
        duration = rng.randint(20, 2500)
        error = failing and not failed_tool and budget < 4
        tool_span = span(
            f"execute_tool {tool}",
            root.span_id,
            clock,
            duration,
            1,
            Span.SPAN_KIND_INTERNAL,
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name=tool,
            gen_ai__tool__call__id=rng.randbytes(6).hex(),
            gen_ai__tool__call__arguments=_text(rng, 60, 400),
            tool__success=not error,
            agent__retry_count=rng.randint(0, 2),
        )
        if realistic:
            tool_span.attributes.extend(
                [
                    key_value("gen_ai.tool.call.result", _sensitive(rng, _text(rng, 300, 1500))),
                    key_value("gen_ai.tool.description", _text(rng, 50, 150)),
                    key_value("gen_ai.tool.type", "function"),
                    key_value("agent.tool.timeout_class", rng.choice(("5s", "30s", "120s"))),
                    key_value("code.function.name", f"tools.{tool}"),
                    key_value("agent.cache.hit", rng.random() < 0.2),
                ]
            )
        budget -= 1
        if error:
            failed_tool = True
            tool_span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=f"{tool} timed out"))
            event = tool_span.events.add(time_unix_nano=tool_span.end_time_unix_nano, name="exception")
            event.attributes.extend(
                [
                    key_value("exception.type", "TimeoutError"),
                    key_value("exception.message", "deadline exceeded"),
                    key_value("exception.stacktrace", _text(rng, 400, 1200)),
                ]
            )
        if budget > 0 and tool == "http_get":
            span(
                "GET",
                tool_span.span_id,
                clock + 5_000_000,
                max(10, duration - 10),
                2,
                Span.SPAN_KIND_CLIENT,
                http__request__method="GET",
                url__full="https://api.example.com/v2/items?page=2",
                http__response__status_code=200,
                server__address="api.example.com",
            )
            budget -= 1
        clock += duration * 1_000_000
    verify = span(
        "verify_answer",
        root.span_id,
        clock,
        300,
        1,
        Span.SPAN_KIND_INTERNAL,
        gen_ai__operation__name="verify",
        verifier__passed=not failing,
        verifier__score=rng.random(),
    )
    clock += 310_000_000
    if trace_id[0] < 8:
        # About 3% of runs are slow: a tool waits 90 s (longer than any normal run) before the verifier.
        for _, member in spans[-1:]:
            member.start_time_unix_nano += 90_000_000_000
            member.end_time_unix_nano += 90_000_000_000
        clock += 90_000_000_000
    root.end_time_unix_nano = clock
    if failing:
        root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="run failed"))
        verify.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="verifier rejected answer"))
    return spans


def generate(traces: int, seed: int, batch: int, profile: str = "bench") -> list[bytes]:
    """Serialized ExportTraceServiceRequests: runs overlapping in time, exported in end-time order."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r}: one of {', '.join(PROFILES)}")
    rng = random.Random(seed)
    resources = [_resource(name) for name in SERVICES]
    spans: list[tuple[int, int, int, Span]] = []  # (end, service, scope, span)
    for index in range(traces):
        service = rng.randrange(len(SERVICES))
        start = 1_760_000_000_000_000_000 + index * 150_000_000 + rng.randint(0, 10**9)
        spans.extend((s.end_time_unix_nano, service, scope, s) for scope, s in _run(rng, start, profile == "realistic"))
    spans.sort(key=lambda item: item[0])
    requests = []
    for offset in range(0, len(spans), batch):
        grouped: dict[int, dict[int, list[Span]]] = defaultdict(lambda: defaultdict(list))
        for _, service, scope, s in spans[offset : offset + batch]:
            grouped[service][scope].append(s)
        request = ExportTraceServiceRequest()
        for service, scopes in grouped.items():
            resource_spans = request.resource_spans.add(resource=resources[service])
            for scope, members in scopes.items():
                resource_spans.scope_spans.add(scope=SCOPES[scope], spans=members)
        requests.append(request.SerializeToString())
    return requests


def write(path: Path, requests: list[bytes]) -> None:
    with path.open("wb") as out:
        for body in requests:
            out.write(struct.pack(">I", len(body)))
            out.write(body)


def read(path: Path) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        requests.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return requests


def count_spans(body: bytes) -> int:
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--profile", choices=PROFILES, default="bench")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    generated = generate(args.traces, args.seed, args.batch, args.profile)
    write(args.out, generated)
    spans = sum(count_spans(body) for body in generated)
    size = sum(len(body) for body in generated)
    print(f"{len(generated)} requests, {spans} spans, {spans / args.traces:.1f} spans/trace, {size / spans:.0f} B/span")
