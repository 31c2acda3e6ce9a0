"""failpath: an OTLP span processor for AI-agent traces."""

__version__ = "0.1.0"
