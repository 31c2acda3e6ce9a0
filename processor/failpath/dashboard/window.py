"""The time window a page shows, cut into whole UTC hours (up to two days) or days, and the per-bucket
series of counts the store's timeline gives for it."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
CHOICES = (6, 24, 48, 24 * 7, 24 * 30)


@dataclass(frozen=True, slots=True)
class Window:
    hours: int
    since_ns: int  # the start of the first slot
    slot_ns: int
    slots: int

    def labels(self) -> list[str]:
        form = "%H:00" if self.slot_ns == HOUR_NS else "%m-%d"
        return [
            datetime.fromtimestamp((self.since_ns + slot * self.slot_ns) / 1e9, UTC).strftime(form)
            for slot in range(self.slots)
        ]

    def series(self, timeline: list[tuple[int, str, int]]) -> dict[str, list[int]]:
        """bucket -> count per slot, from the store's (slot, bucket, count) rows."""
        found: dict[str, list[int]] = {}
        for slot, bucket, count in timeline:
            if 0 <= slot < self.slots:
                found.setdefault(bucket, [0] * self.slots)[slot] += count
        return found


def window(hours: int, now_ns: int | None = None, slot_ns: int | None = None) -> Window:
    """The last `hours`, from the start of the hour (or day) they begin in, to now."""
    now = time.time_ns() if now_ns is None else now_ns
    slot = slot_ns or (HOUR_NS if hours <= 48 else DAY_NS)
    since = (now - hours * HOUR_NS) // slot * slot
    return Window(hours, since, slot, (now - since) // slot + 1)
