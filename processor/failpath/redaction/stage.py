"""The redaction stage: first after the receivers, so nothing unredacted is buffered, stored or forwarded."""

import re

from failpath.consumer import Batch, Consumer
from failpath.metrics import Metrics
from failpath.redaction.config import RedactionConfig
from failpath.redaction.detectors import BY_NAME, Detector, regex_detector
from failpath.redaction.engine import HyperscanScanner, Re2Scanner, build_scanner
from failpath.redaction.key_rules import KeyRules
from failpath.redaction.pseudonyms import Pseudonymizer
from failpath.redaction.redactor import Redactor


def active_detectors(config: RedactionConfig) -> list[Detector]:
    detectors = [BY_NAME[name] for name in config.detectors.active()]
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
        config.summarize_html,
        config.span_counts,
        flag_blobs,
        config.span_keys,
    )


class RedactionStage:
    def __init__(self, config: RedactionConfig, next_consumer: Consumer, metrics: Metrics) -> None:
        self._redactor = build_redactor(config)
        self._next = next_consumer
        self._metrics = metrics

    async def start(self) -> None:
        pass

    async def shutdown(self, deadline: float) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        result = self._redactor.redact(batch.request)
        metrics = self._metrics
        metrics.redaction_scanned_bytes.inc(result.scanned_bytes)
        for rule, count in result.findings.items():
            metrics.redaction_findings.labels(rule).inc(count)
        for action, count in result.actions.items():
            metrics.redaction_actions.labels(action).inc(count)
        await self._next.consume(batch)
