"""Redaction: no secret or personal data survives into memory, backends or packets."""
