"""Exporters: where kept spans go (OTLP backends, the embedded store, a JSON-lines file)."""
