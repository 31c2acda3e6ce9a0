"""The shared secrets corpus (../shared/corpora/secrets), read-only."""

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "secrets"


def entries(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    return data


def benign() -> list[str]:
    return (CORPUS / "benign.txt").read_text(encoding="utf-8").splitlines()
