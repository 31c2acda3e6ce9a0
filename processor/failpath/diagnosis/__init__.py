"""Diagnosis: what went wrong in a failed run, where, and which failure bucket it belongs to."""
