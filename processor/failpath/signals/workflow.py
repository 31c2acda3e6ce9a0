"""A run's workflow name, read the same way by the sampler (per-workflow thresholds and keys) and the
packets (the `workflow` of a packet and of the failure metrics)."""

from collections.abc import Iterable, Mapping


def workflow_name(keys: Iterable[str], sources: Iterable[Mapping[str, object]], fallback: str) -> str:
    """The first key set to non-empty text, trying each key on each source in turn (root span attributes,
    then its resource's), else fallback (the root span's name)."""
    sources = tuple(sources)
    for key in keys:
        for values in sources:
            value = values.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback
