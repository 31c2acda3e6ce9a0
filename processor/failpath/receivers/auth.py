"""Optional bearer-token check shared by both receivers (constant-time compare)."""

import hmac

from failpath.receivers.config import BearerAuthConfig


class BearerCheck:
    def __init__(self, config: BearerAuthConfig | None) -> None:
        self._expected = config.token().encode() if config else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def refusal(self, authorization: list[str]) -> str | None:
        """Why a request with these Authorization header values is refused, or None when it may pass.
        The scheme is case-insensitive (RFC 7235); more than one header is refused, as the two could be read
        differently by a proxy in front."""
        if self._expected is None:
            return None
        if len(authorization) > 1:
            return "more than one Authorization header"
        if not authorization:
            return "missing bearer token"
        scheme, _, token = authorization[0].strip().partition(" ")
        try:
            # Header bytes that are not ASCII cannot be this token (and must not reach the compare as str).
            presented = token.strip().encode("ascii")
        except UnicodeEncodeError:
            return "wrong bearer token"
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented, self._expected):
            return "wrong bearer token"
        return None
