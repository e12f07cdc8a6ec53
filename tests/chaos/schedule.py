"""The fault schedule: a pure function of how long the load runs.

One cycle kills, in turn, the ingress, the router, the deliverer and the projections service
(each restarted by the supervisor), takes the receiver down for 30 s, and stops the broker for
10 s. A longer run repeats the cycle, spread evenly; the outage windows never shrink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["kill", "receiver_down", "broker_stop"]

RECEIVER_DOWN_S = 30.0
BROKER_STOP_S = 10.0
LEAD_IN_S = 10.0  # load flows before the first fault
TAIL_S = 10.0  # and after the last one, so recovery is seen under load
# (offset in the cycle, kind, target, how long it holds)
CYCLE: tuple[tuple[float, Kind, str, float], ...] = (
    (0.0, "kill", "ingress", 0.0),
    (8.0, "kill", "router", 0.0),
    (18.0, "kill", "deliverer", 0.0),
    (28.0, "kill", "projections", 0.0),
    (36.0, "receiver_down", "receiver", RECEIVER_DOWN_S),
    (36.0 + RECEIVER_DOWN_S + 8.0, "broker_stop", "broker", BROKER_STOP_S),
)
CYCLE_S = max(at + hold for at, _, _, hold in CYCLE)
MIN_DURATION_S = LEAD_IN_S + CYCLE_S + TAIL_S


@dataclass(frozen=True)
class Fault:
    at_s: float  # from the start of the load
    kind: Kind
    target: str
    hold_s: float  # how long the outage lasts (0: a kill, the supervisor restarts it)

    @property
    def ends_s(self) -> float:
        return self.at_s + self.hold_s

    @property
    def label(self) -> str:
        if self.kind == "kill":
            return f"SIGKILL {self.target}"
        if self.kind == "receiver_down":
            return f"receiver down {self.hold_s:g} s"
        return f"broker SIGSTOP {self.hold_s:g} s"


def schedule(duration_s: float) -> list[Fault]:
    """Every fault of a run whose load lasts `duration_s` (at least MIN_DURATION_S)."""
    if duration_s < MIN_DURATION_S:
        raise ValueError(f"a chaos run needs at least {MIN_DURATION_S:g} s of load")
    room = duration_s - LEAD_IN_S - TAIL_S
    cycles = max(1, int(room // (CYCLE_S + TAIL_S)))
    span = room / cycles
    return [
        Fault(LEAD_IN_S + n * span + at, kind, target, hold)
        for n in range(cycles)
        for at, kind, target, hold in CYCLE
    ]
