"""The redaction stage: first after the receivers, so nothing unredacted is buffered, stored or forwarded."""

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor

from failpath.consumer import Batch, Consumer, Refused
from failpath.metrics import Metrics
from failpath.redaction.config import RedactionConfig
from failpath.redaction.detectors import BY_NAME, Detector, phone_detector, regex_detector
from failpath.redaction.engine import HyperscanScanner, Re2Scanner, build_scanner
from failpath.redaction.key_rules import KeyRules
from failpath.redaction.pseudonyms import Pseudonymizer
from failpath.redaction.redactor import RedactionResult, Redactor

log = logging.getLogger("failpath.redaction")

try:
    from failpath.redaction.native_redactor import NativeRedactor
except ImportError:  # the extension is not built: the pure-Python reference does it all
    NATIVE_BUILT = False
else:
    NATIVE_BUILT = True


def active_detectors(config: RedactionConfig) -> list[Detector]:
    regions = tuple(config.detectors.phone_regions)
    detectors = [phone_detector(regions) if name == "phone" else BY_NAME[name] for name in config.detectors.active()]
    for custom in config.detectors.custom:
        detectors.append(
            regex_detector(
                custom.name,
                custom.category,
                custom.regex,
                group=custom.group,
                flags=re.IGNORECASE if custom.ignore_case else 0,
            )
        )
    return detectors


def build_redactor(config: RedactionConfig, fast_path: bool = True) -> Redactor:
    """fast_path: skip the full walk for spans no prefilter fires in (tests turn it off to compare)."""
    key = config.hmac_key()
    scanner = build_scanner(active_detectors(config), config.engine)
    rules = KeyRules(config.keys)
    # The per-span fast path needs a multi-pattern engine, and scan mode: in allow_list mode every key may
    # be dropped at any depth, which only the full walk sees.
    flag_blobs = None
    if fast_path and not rules.allow_list and isinstance(scanner, HyperscanScanner | Re2Scanner):
        flag_blobs = scanner.flag_blobs
    return Redactor(
        scanner,
        rules,
        Pseudonymizer(key),
        config.max_value_chars,
        config.max_scan_chars,
        config.summarize_html,
        config.span_counts,
        flag_blobs,
        config.span_keys,
    )


class _Redact:
    """One request's redaction: the native walk over its bytes where built and enabled, else (or for what the
    native walk leaves to it) the pure-Python reference on the parsed request."""

    def __init__(self, config: RedactionConfig, metrics: Metrics) -> None:
        self._reference = build_redactor(config)
        native = NATIVE_BUILT and config.native and not config.span_keys
        self._native = NativeRedactor(self._reference) if native else None
        self._requests = metrics.redaction_requests

    def __call__(self, batch: Batch) -> RedactionResult:
        if self._native is not None:
            done = self._native.redact(batch.serialized())
            if done is not None:
                payload, result = done
                batch.replace(payload)
                self._requests.labels("native").inc()
                return result
        self._requests.labels("reference").inc()
        return self._reference.redact(batch.request)


# Requests bigger than this are redacted on a thread of their own (with a redactor of their own), so the
# receivers' event loop keeps serving everyone else while a big one is scanned. One is redacted at a time
# and one more may wait; past that, big requests are refused (503 / UNAVAILABLE: retry later).
LARGE_REQUEST_BYTES = 1 << 20
_LARGE_WAITING = 2


class RedactionStage:
    def __init__(self, config: RedactionConfig, next_consumer: Consumer, metrics: Metrics) -> None:
        if config.native and not NATIVE_BUILT:
            log.warning("the native redaction walk is not built (no C compiler at install?): using pure Python")
        self._redact = _Redact(config, metrics)
        self._large_redact = _Redact(config, metrics)
        self._large_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redaction")
        self._large_pending = 0
        self._next = next_consumer
        self._metrics = metrics

    async def start(self) -> None:
        pass

    async def shutdown(self, deadline: float) -> None:
        self._large_thread.shutdown(wait=False)

    async def consume(self, batch: Batch) -> None:
        if batch.received_bytes > LARGE_REQUEST_BYTES:
            result = await self._redact_large(batch)
        else:
            result = self._redact(batch)
        metrics = self._metrics
        metrics.redaction_scanned_bytes.inc(result.scanned_bytes)
        for rule, count in result.findings.items():
            metrics.redaction_findings.labels(rule).inc(count)
        for action, count in result.actions.items():
            metrics.redaction_actions.labels(action).inc(count)
        await self._next.consume(batch)

    async def _redact_large(self, batch: Batch) -> RedactionResult:
        if self._large_pending >= _LARGE_WAITING:
            raise Refused("overloaded", "busy redacting large requests; retry later")
        self._large_pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._large_thread, self._large_redact, batch)
        finally:
            self._large_pending -= 1
