"""Network profiles: one latency and bandwidth for every link, for the time estimate
when no deployment file says what each link is (veil.cost.timing has the model)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    rtt_ms: float
    mbit_per_s: float



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
