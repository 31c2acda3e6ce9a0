"""The environment the suite runs in holds exactly the locked set: every package requirements-dev.lock names
for this platform, at its version, and nothing else (besides failpath itself and the installer). A
dependency added to pyproject.toml without `make lock`, or a hand-installed package, fails here."""

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
_REQUIREMENT = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)(?: ; ([^\\]+))?")
_INSTALLER = {"pip", "setuptools", "wheel", "failpath"}


def locked(path: Path) -> dict[str, str]:
    """name -> version of the lock's packages whose markers hold on this platform."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _REQUIREMENT.match(line)
        if match and (match[3] is None or Marker(match[3].strip()).evaluate()):
            found[str(canonicalize_name(match[1]))] = str(match[2])
    return found


def test_the_suite_runs_on_exactly_the_locked_set() -> None:
    wanted = locked(ROOT / "requirements-dev.lock")
    installed = {str(canonicalize_name(dist.metadata["Name"])): dist.version for dist in metadata.distributions()}
    assert {name: installed.get(name) for name in wanted if installed.get(name) != wanted[name]} == {}
    assert set(installed) - set(wanted) - _INSTALLER == set()


def test_the_runtime_lock_is_the_runtime_part_of_the_dev_lock() -> None:
    runtime, development = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert "failpath" not in runtime and runtime.items() <= development.items()
