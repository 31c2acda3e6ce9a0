"""The C extensions are optional at install (no compiler: the pure-Python reference paths run); on a machine
with a compiler, a missing one is a broken build, not a fallback to accept silently."""

import importlib
import shutil

import pytest


def _compiler() -> None:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine")


@pytest.mark.parametrize(
    "module", ["failpath.redaction._native", "failpath.redaction._digit_runs", "failpath.otlp._spans"]
)
def test_the_extensions_are_built_wherever_a_compiler_is(module: str) -> None:
    _compiler()
    importlib.import_module(module)


def test_the_stages_use_them() -> None:
    _compiler()
    from failpath.otlp import native
    from failpath.redaction import digit_runs, stage

    assert stage.NATIVE_BUILT
    assert digit_runs.first_run is not None
    assert native.span_ranges is not None and native.request_facts is not None and native.span_record is not None
