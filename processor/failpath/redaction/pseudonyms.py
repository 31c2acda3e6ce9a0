"""What replaces a secret: a stable pseudonym, so the same secret is recognisably the same without being
recoverable. <redacted:RULE:HASH>, HASH = base64url(HMAC-SHA256(key, RULE 0x00 secret))[:16]."""

import base64
import hashlib
import hmac
import os


class Pseudonymizer:
    def __init__(self, key: bytes | None) -> None:
        self._key = key
        # Summaries and truncation pointers always carry a keyed hash; without a configured key it is a
        # random per-process one (stable within a run only, and never a plain, dictionary-attackable hash).
        self._digest_key = key or os.urandom(32)

    @property
    def digest_key(self) -> bytes:
        """The BLAKE2b key of digest() (the native walk computes the same digests)."""
        return self._digest_key[:64]

    def token(self, rule: str, secret: str) -> str:
        if self._key is None:
            return f"<redacted:{rule}>"
        mac = hmac.digest(self._key, rule.encode() + b"\0" + secret.encode(), "sha256")
        return f"<redacted:{rule}:{base64.urlsafe_b64encode(mac)[:16].decode()}>"

    def digest(self, data: bytes) -> str:
        """A short keyed hash of a whole value: 16 hex digits of BLAKE2b in keyed mode (a MAC, cheaper than
        HMAC, and on the hot path for every summarized prompt)."""
        return hashlib.blake2b(data, key=self.digest_key, digest_size=8).hexdigest()

    def digest_text(self, text: str) -> str:
        return self.digest(text.encode())
