"""Optional bearer-token check shared by both receivers (constant-time compare)."""

import hmac

from failpath.receivers.config import BearerAuth


class BearerCheck:
    def __init__(self, config: BearerAuth | None) -> None:
        self._expected = f"Bearer {config.token()}".encode() if config else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, authorization: str | None) -> bool:
        if self._expected is None:
            return True
        if authorization is None:
            return False
        return hmac.compare_digest(authorization.strip().encode(), self._expected)
