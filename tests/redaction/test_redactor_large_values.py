"""Values of any size: what a long value keeps (nothing unscanned, a secret across the cut masked whole),
the same findings when a blob floods the prefilters, and big requests handled beside the event loop with
bounded waiting. (Time and memory per MiB are measured by bench/large_values.py.)"""

import asyncio
import base64
import os
import random
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.consumer import Batch, Refused
from failpath.metrics import Metrics
from failpath.otlp.values import key_value
from failpath.redaction import engine
from failpath.redaction.config import RedactionConfig
from failpath.redaction.detectors import BUILTIN
from failpath.redaction.pseudonyms import Pseudonymizer
from failpath.redaction.stage import LARGE_REQUEST_BYTES, RedactionStage, build_redactor
from tests.support.harness import RunningFailpath, make_config
from tests.support.http import request
from tests.support.requests import build_request
from tests.support.sink import OtlpSink

EMAIL = "ana.lima@contoso-mail.com"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzK8mQ2a9Zq"  # 40 characters, mixed
KEY = "large-values-test-key-0123456789abcdef"


def _attributes(values: dict[str, str], **config: Any) -> dict[str, Any]:
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8)
    span.attributes.extend(key_value(key, text) for key, text in values.items())
    build_redactor(RedactionConfig.model_validate({"hmac_key_env": None, **config})).redact(message)
    return {kv.key: kv.value.string_value or kv.value.int_value for kv in span.attributes}


def test_a_long_value_keeps_its_redacted_start_and_a_pointer_to_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP_KEY", KEY)
    filler = "lorem ipsum " * 1000
    # A secret running across the cut at 100 characters, one inside the kept part, one far beyond the scan.
    text = "x" * 20 + f" {EMAIL} " + "y" * 40 + " " + AWS_SECRET + " " + filler + " " + AWS_SECRET + " tail"
    out = str(_attributes({"log": text}, max_value_chars=100, hmac_key_env="FP_KEY")["log"])
    kept, marker = out.split("<truncated:")
    assert AWS_SECRET[:5] not in out and EMAIL not in out
    assert re.fullmatch(r"x{20} <redacted:email:\S+> y{40} <redacted:aws_secret_access_key:\S+>", kept)
    # The pointer is to the whole value as sent: its length and its keyed hash.
    assert marker == f"chars={len(text)}:hmac={Pseudonymizer(KEY.encode()).digest_text(text)}>"


def test_a_long_content_value_is_summarized_whole_but_scanned_only_so_far() -> None:
    head = f"mail {EMAIL} " + "z" * 5000
    text = head + "q" * 20_000 + f" {EMAIL}"  # the second email lies past max_scan_chars
    out = _attributes({"gen_ai.input.messages": text}, max_scan_chars=8192)
    summary = re.fullmatch(r"<summary:chars=(\d+):hmac=\S+:hits=(\S+):scanned=8192>", str(out["gen_ai.input.messages"]))
    assert summary and summary.groups() == (str(len(text)), "email")
    assert _attributes({"gen_ai.input.messages": head})["gen_ai.input.messages"].endswith(":hits=email>")


def test_a_long_html_page_is_summarized_from_its_start() -> None:
    page = "<html><head><title>Invoice</title></head><body>" + "<p>row</p>" * 200_000 + "</body></html>"
    out = str(_attributes({"http.response.body": page}, max_scan_chars=65536)["http.response.body"])
    assert re.fullmatch(rf'<html:title="Invoice":chars={len(page)}:text_chars=\d+:hmac=\S+:scanned=65536>', out)


@pytest.mark.parametrize("flood", ["digits", "base64"])
def test_a_prefilter_flood_gives_the_same_findings(monkeypatch: pytest.MonkeyPatch, flood: str) -> None:
    blob = "4111" * 20_000 if flood == "digits" else base64.b64encode(os.urandom(60_000)).decode()
    values = [
        f"write to {EMAIL}",
        blob,
        f"key {AWS_SECRET} here",
        "plain text",
        f"card 4111 1111 1111 1111 {blob[:50]}",
    ]
    scanner = engine.HyperscanScanner(BUILTIN)
    expected = engine.PythonScanner(BUILTIN).scan(values)
    assert scanner.scan(values) == expected
    monkeypatch.setattr(engine, "FLOOD", 10**9)  # the unbounded joined scan, as before, for comparison
    assert scanner.scan(values) == expected
    # And the serialized-span prefilter still flags exactly the spans that hold something.
    blobs = [value.encode() for value in values]
    unbounded = scanner.flag_blobs(blobs)
    monkeypatch.setattr(engine, "FLOOD", 4)
    assert scanner.flag_blobs(blobs) == unbounded
    assert {0, 2, 4} <= unbounded


def test_a_planted_secret_in_a_huge_prompt_never_leaves(tmp_path: Path, sink: OtlpSink) -> None:
    config = make_config(
        tmp_path,
        {
            "redaction": {"enabled": True},
            "exporters": {"otlp": [{"name": "sink", "endpoint": f"127.0.0.1:{sink.grpc_port}"}]},
        },
    )
    # Seeded: random bytes would now and then hold a run that is a detector's match (an SSN, say).
    image = base64.b64encode(random.Random(3).randbytes(3 << 20)).decode()
    message = build_request(spans=1)
    span = message.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(key_value("gen_ai.input.messages", f"{AWS_SECRET} data:image/png;base64,{image}"))
    span.attributes.append(key_value("tool.log", f"{image[:9000]} {EMAIL} {image}"))
    with RunningFailpath(config) as failpath:
        assert (
            request(failpath.http_url, message.SerializeToString(), {"Content-Type": "application/x-protobuf"})[0]
            == 200
        )
        (received,) = sink.wait_for_spans(1)
    attributes = {kv.key: kv.value.string_value for kv in received.attributes}
    prompt = attributes["gen_ai.input.messages"]
    assert re.fullmatch(r"<summary:chars=\d+:hmac=\S+:hits=aws_secret_access_key:scanned=1048576>", prompt)
    log_length = 9000 + 1 + len(EMAIL) + 1 + len(image)
    assert re.fullmatch(
        rf"[A-Za-z0-9+/]{{8192}}<truncated:chars={log_length}:hmac=[0-9a-f]{{16}}>", attributes["tool.log"]
    )
    serialized = received.SerializeToString()
    assert EMAIL.encode() not in serialized and AWS_SECRET.encode() not in serialized
    assert len(serialized) < 20_000


def _large_batch() -> Batch:
    message = build_request(spans=1, text="x" * 100)
    return Batch(message, 1, received_bytes=LARGE_REQUEST_BYTES + 1)


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def test_big_requests_wait_their_turn_and_past_that_are_refused() -> None:
    async def main() -> None:
        recorder = _Recorder()
        stage = RedactionStage(RedactionConfig(hmac_key_env=None), recorder, Metrics())
        gate = threading.Event()
        # Hold the big-request thread busy, as a long redaction would.
        busy = asyncio.get_running_loop().run_in_executor(stage._large_thread, gate.wait)
        first = asyncio.ensure_future(stage.consume(_large_batch()))
        second = asyncio.ensure_future(stage.consume(_large_batch()))
        await asyncio.sleep(0.05)
        with pytest.raises(Refused):
            await stage.consume(_large_batch())
        # Small requests never wait for the big ones.
        await stage.consume(Batch(build_request(spans=1), 1, received_bytes=1000))
        assert len(recorder.batches) == 1
        gate.set()
        await asyncio.gather(busy, first, second)
        assert len(recorder.batches) == 3
        await stage.consume(_large_batch())  # room again
        await stage.shutdown(0)

    asyncio.run(main())
