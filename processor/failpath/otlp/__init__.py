"""OTLP wire helpers shared by receivers and exporters: JSON mapping, compression, status, span checks."""
