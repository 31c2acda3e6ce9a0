"""Recall and false positives of the default detectors on the shared corpus, through the whole redactor.

Each corpus text becomes a span attribute value; the redacted request is then searched for the secret.
Targets: recall >= 99% per type, false positives <= 0.5% per file. Figures are printed per type.
"""

import json
from collections import Counter

import pytest

from failpath.redaction.config import RedactionConfig
from tests.support.corpus import CORPUS, benign, entries
from tests.support.redact_values import redact_values

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpora/secrets is not beside the project")


def _redact_all(texts: list[str], engine: str) -> list[str]:
    """Redact each text as the value of a span attribute (IP detectors on: the corpus covers them)."""
    config = RedactionConfig(engine=engine, detectors={"enable": ["ipv4", "ipv6"]}, hmac_key_env=None)  # type: ignore[arg-type]
    return redact_values(texts, config)


@pytest.fixture(scope="module", params=["hyperscan", "re2", "python"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param != "python":
        pytest.importorskip(request.param)
    return str(request.param)


@pytest.mark.parametrize("corpus", ["credentials.json", "personal.json"])
def test_recall_per_type(engine: str, corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = entries(corpus)
    redacted = _redact_all([case["text"] for case in cases], engine)
    total: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for case, out in zip(cases, redacted, strict=True):
        total[case["rule"]] += 1
        caught[case["rule"]] += case["secret"] not in out
    with capsys.disabled():
        print(f"\n[{engine}] recall on {corpus}:")
        for rule in sorted(total):
            print(f"  {rule:24} {caught[rule]:4}/{total[rule]:<4} {caught[rule] / total[rule]:7.2%}")
    low = {rule: caught[rule] / total[rule] for rule in total if caught[rule] / total[rule] < 0.99}
    assert not low, f"recall below 99%: {low}"


def test_false_positives(engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    adversarial = entries("false_positives.json")
    texts = [case["text"] for case in adversarial]
    changed = [case for case, out in zip(adversarial, _redact_all(texts, engine), strict=True) if out != case["text"]]
    ordinary = benign()
    changed_benign = sum(out != text for text, out in zip(ordinary, _redact_all(ordinary, engine), strict=True))
    by_rule = Counter(case["near_rule"] for case in changed)
    with capsys.disabled():
        print(
            f"\n[{engine}] false positives: false_positives.json {len(changed)}/{len(texts)} "
            f"({len(changed) / len(texts):.2%}) {dict(by_rule)}; benign.txt {changed_benign}/{len(ordinary)} "
            f"({changed_benign / len(ordinary):.2%})"
        )
    assert len(changed) / len(texts) <= 0.005
    assert changed_benign / len(ordinary) <= 0.005


@pytest.mark.parametrize("depth", [1, 2])
def test_recall_inside_nested_json(engine: str, depth: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Agent spans carry JSON inside JSON (tool arguments inside messages inside input.value): every corpus
    text is nested `depth` levels deep, and the secret must be gone in its escaped form."""
    cases = entries("credentials.json") + entries("personal.json")
    texts, secrets = [], []
    for case in cases:
        text, secret = case["text"], case["secret"]
        for _ in range(depth):
            text, secret = json.dumps({"content": text}), json.dumps(secret)[1:-1]
        texts.append(text)
        secrets.append(secret)
    redacted = _redact_all(texts, engine)
    missed = Counter(case["rule"] for case, secret, out in zip(cases, secrets, redacted, strict=True) if secret in out)
    recall = 1 - sum(missed.values()) / len(cases)
    with capsys.disabled():
        print(f"\n[{engine}] nested JSON depth {depth}: recall {recall:.2%} {dict(missed)}")
    assert recall >= 0.995
