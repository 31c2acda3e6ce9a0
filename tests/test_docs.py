"""docs/diagnosis.md stays true: every `failpath diagnose` example prints what the page shows, and its
tables list every fact with its default attributes, every finding, and each default rule's findings."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from failpath.diagnosis.config import FINDINGS, SYMPTOMS, default_buckets
from failpath.signals.vocabulary import DEFAULT_SOURCES, FACTS

ROOT = Path(__file__).parent.parent
PAGE = (ROOT / "docs" / "diagnosis.md").read_text()
EXAMPLES = re.findall(r"```console\n\$ (failpath diagnose [^\n]+)\n(.*?)```", PAGE, re.DOTALL)


def _table(heading: str) -> dict[str, str]:
    """The rows of the first table after a heading, first cell (without backticks) -> second cell."""
    section = PAGE.split(heading, 1)[1]
    rows = re.findall(r"^\| `?([\w.]+)`? \| (.*?) \|", section.split("\n\n|", 1)[1].split("\n\n", 1)[0], re.M)
    return dict(rows)


def test_the_page_has_an_example_per_default_rule() -> None:
    files = " ".join(command for command, _ in EXAMPLES)
    assert len(EXAMPLES) >= 7
    for rule in default_buckets():
        assert f"failure_bucket: {rule.name} " in "".join(output for _, output in EXAMPLES), rule.name
    assert all(Path(ROOT / path).is_file() for path in re.findall(r"docs/examples/\S+", files))


@pytest.mark.parametrize(("command", "output"), EXAMPLES, ids=[command.split()[2] for command, _ in EXAMPLES])
def test_each_example_prints_what_the_page_shows(command: str, output: str) -> None:
    args = shlex.split(command)[1:]
    result = subprocess.run(
        [sys.executable, "-m", "failpath", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == output


def test_the_vocabulary_table_lists_every_fact_and_its_default_attributes() -> None:
    table = _table("## The vocabulary")
    assert list(table) == list(FACTS)
    for fact, cell in table.items():
        documented = re.findall(r"`([\w.]+)`(?: \{(\w+)\})?", cell)
        expected = [
            (source, "") if isinstance(source, str) else (source.attribute, source.json_key)
            for source in DEFAULT_SOURCES[fact]
        ]
        assert documented == expected, fact


def test_the_findings_table_lists_every_finding_as_cause_or_symptom() -> None:
    table = _table("## Every finding")
    assert sorted(table) == sorted(FINDINGS)
    for finding, kind in table.items():
        assert kind == ("symptom" if finding in SYMPTOMS else "cause"), finding


def test_the_rules_table_gives_each_default_rule_its_findings() -> None:
    table = _table("## The default rules, with example traces")
    rules = {rule.name: [f for match in rule.match for f in match.finding] for rule in default_buckets()}
    assert {name: cell.split(", ") for name, cell in table.items()} == rules
