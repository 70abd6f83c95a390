"""Network profiles and the time estimate of a run: rounds × RTT + bytes / bandwidth.

Each round is a round trip in the worst case (a server waits for its peer's message
before it can continue), and the busiest server's bytes go through its link.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    rtt_ms: float
    mbit_per_s: float

    def seconds(self, rounds: int, bytes_sent: int) -> float:
        return rounds * self.rtt_ms / 1000 + bytes_sent * 8 / (self.mbit_per_s * 1e6)


DEFAULT_PROFILES = (
    Profile("lan", 0.2, 1000.0),
    Profile("wan", 150.0, 100.0),  # cross-border: e.g. Frankfurt–Shanghai
)


def parse_profile(text: str) -> Profile:
    """NAME=RTT_MS,MBIT_PER_S, e.g. `wan=150,100`."""
    name, sep, rest = text.partition("=")
    parts = rest.split(",")
    if not sep or len(parts) != 2 or not name:
        raise ValueError(f"{text!r}: expected NAME=RTT_MS,MBIT_PER_S (e.g. wan=150,100)")
    rtt, bandwidth = float(parts[0]), float(parts[1])
    if rtt < 0 or bandwidth <= 0:
        raise ValueError(f"{text!r}: RTT must be >= 0 and bandwidth > 0")
    return Profile(name, rtt, bandwidth)
