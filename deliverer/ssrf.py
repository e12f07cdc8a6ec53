"""Which resolved addresses a delivery may connect to (server-side request forgery guard).

A destination URL is user input: without this check anyone with an API key could make the
deliverer call the cloud metadata service (169.254.169.254), the broker, or anything else on
the private network and read the answer back in the attempt record. Only public unicast
addresses are allowed, unless an operator allows more (e.g. a receiver on localhost in dev).

The gateway's own services are never destinations either: an address of this machine on the
port of the API, router, deliverer or projections (whose probes, metrics or admin routes
would answer) is refused even where loopback is allowed. The ingress is not among them: a
destination that is a FastHook source is a legitimate chain, and the hop count ends loops.

This module judges addresses only. Host names such as `metadata.google.internal` are handled
by the caller checking every address a name resolves to, on the very connection it opens
(so DNS rebinding cannot swap in a private address after the check).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from functools import lru_cache

from runtime.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Verdicts a guard keeps (then starts again): destinations resolve to a few addresses each.
VERDICTS_KEPT = 4096
# Not `is_private` in Python 3.11, yet only reachable inside a carrier's network.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052 NAT64: where a NAT64 gateway exists, 64:ff9b::a.b.c.d reaches a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _translated_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d)
    address stands for: such an address is judged as that IPv4 address alone."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _special(address: Address) -> bool:
    # Belt and braces: `is_global` alone shifted between Python versions (3.11.10, 3.13), and
    # IPv4 multicast counts as "global" there.
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or address in _CGNAT
    )


@lru_cache(maxsize=256)  # called for every resolved address of every delivery
def _network(entry: str) -> Network | None:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def _parse_address(address: str) -> Address | None:
    if not isinstance(address, str):
        return None
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):  # a URL's IPv6 host spelling
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _allowed(address: Address, allow: list[str]) -> bool:
    # ::ffff:127.0.0.1 is 127.0.0.1: allowing one allows the other.
    candidates: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    for entry in allow:
        network = _network(entry) if isinstance(entry, str) else None
        if network is not None and any(c in network for c in candidates):
            return True
    return False


def is_blocked(address: str, allow: list[str]) -> bool:
    """Whether a delivery must not connect to the IP `address` (`[v6]` brackets accepted).

    Blocked: loopback, link-local (cloud metadata), private (10/8, 172.16/12, 192.168/16,
    fc00::/7), CGNAT 100.64/10, unspecified, multicast, reserved and other non-global ranges,
    and IPv6 forms that lead to a blocked IPv4 address (::ffff:a.b.c.d, NAT64, 6to4).
    An address inside an `allow` entry (a CIDR or an address) is never blocked; invalid
    entries are ignored (`parse_allow_list` rejects them up front). Never raises: anything
    that is not an IP address is blocked.
    """
    parsed = _parse_address(address)
    if parsed is None:
        return True
    if _allowed(parsed, allow or []):
        return False
    translated = _translated_ipv4(parsed)
    if translated is not None:
        return _special(translated)
    # 6to4 (2002:a.b.c.d::/48) is a public prefix, yet its relay reaches a.b.c.d: judge both.
    relayed = parsed.sixtofour if isinstance(parsed, ipaddress.IPv6Address) else None
    return _special(parsed) or (relayed is not None and _special(relayed))


def parse_allow_list(value: str) -> list[str]:
    """`"127.0.0.1/32, ::1"` → `["127.0.0.1/32", "::1/128"]` (blank entries skipped).

    Raises ValueError naming the first bad entry, including a CIDR with host bits set
    (`10.1.2.3/8`): it probably does not mean what it says, so we ask rather than guess.
    """
    networks: list[str] = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            loose = _network(entry)
            if loose is not None:
                raise ValueError(
                    f"allow-list entry {entry!r} has host bits set: did you mean '{loose}'?"
                ) from exc
            raise ValueError(
                f"allow-list entry {entry!r} is not an IP address or CIDR "
                "(e.g. 10.0.0.0/8, 127.0.0.1, ::1)"
            ) from exc
        networks.append(str(network))
    return networks


def service_ports(settings: Settings) -> frozenset[int]:
    """Every port a FastHook service of this deployment listens on (`*_port` settings, a
    separate metrics port included), but the ingress's: that one may be a destination."""
    return frozenset(
        getattr(settings, f.name)
        for f in fields(settings)
        if f.name.endswith("_port") and f.name != "ingress_port"
    )


def service_hosts(settings: Settings) -> frozenset[str]:
    """The addresses the services bind to, where they are IP addresses: local as loopback."""
    hosts = set()
    for f in fields(settings):
        if f.name.endswith("_host"):
            parsed = _parse_address(getattr(settings, f.name))
            if parsed is not None and not parsed.is_unspecified:
                hosts.add(str(parsed))
    return frozenset(hosts)


@dataclass(frozen=True, slots=True)
class DestinationGuard:
    """Where a delivery may connect: `allow` as `is_blocked` reads it, and never to one of
    `protected_ports` on this machine (loopback, unspecified, or one of `local_hosts`)."""

    allow: list[str]
    protected_ports: frozenset[int] = frozenset()
    local_hosts: frozenset[str] = frozenset()
    # (address, port) -> verdict: a pure function of the fields above, asked once per delivery
    # (~30 µs each, parsing the address and walking the allow-list and the special ranges).
    _verdicts: dict[tuple[str, int | None], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def for_settings(cls, settings: Settings) -> DestinationGuard:
        return cls(
            parse_allow_list(settings.allowed_destinations),
            service_ports(settings),
            service_hosts(settings),
        )

    def _local(self, address: Address) -> bool:
        candidates = [address]
        translated = _translated_ipv4(address)
        if translated is not None:
            candidates.append(translated)
        return any(
            a.is_loopback or a.is_unspecified or str(a) in self.local_hosts for a in candidates
        )

    def blocks(self, address: str, port: int | None) -> bool:
        """Whether a delivery must not connect to `address` (an IP) on `port`."""
        key = (address, port)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            verdict = self._verdicts[key] = self._blocks(address, port)
        return verdict

    def _blocks(self, address: str, port: int | None) -> bool:
        if is_blocked(address, self.allow):
            return True
        if port not in self.protected_ports:
            return False
        parsed = _parse_address(address)
        return parsed is None or self._local(parsed)
