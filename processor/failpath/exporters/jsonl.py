"""Debugging exporter: one OTLP/JSON request per line, appended to an owner-only file."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.otlp import json_codec
from failpath.store.private_files import private_file


class JsonlSender:
    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonl")
        self._file: TextIO | None = None

    async def start(self) -> None:
        private_file(self._path)
        self._file = self._path.open("a", encoding="utf-8")

    def _write(self, payload: bytes) -> None:
        assert self._file is not None
        line = json_codec.encode(ExportTraceServiceRequest.FromString(payload)).decode()
        self._file.write(line + "\n")
        self._file.flush()

    async def send(self, payload: bytes, spans: int) -> int:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, payload)
        return 0

    async def close(self) -> None:
        self._thread.shutdown(wait=True)
        if self._file is not None:
            self._file.close()
