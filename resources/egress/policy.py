"""Which outbound destinations are allowed: pure rules plus one DNS resolution (reference §11.7).

Rules, in order:

* `http`/`https` only; no user name or password in the URL; a host is required;
* a host written as a number in any other form than canonical dotted-quad or IPv6 (`2130706433`,
  `0x7f.1`, `0177.0.0.1`, `127.1`) is refused outright: resolvers read those differently;
* an origin listed in `WEBHOOK_ALLOWED_ORIGINS` (exact `scheme://host:port`) is allowed whatever it
  resolves to: the only way to reach a private receiver on purpose;
* otherwise every address the host resolves to must be global unicast and outside the blocked
  ranges (private, loopback, link-local, CGNAT, benchmarking, multicast, reserved, unspecified,
  NAT64 / 6to4 wrappers, IPv4-mapped forms unwrapped first, cloud metadata addresses);
* loopback is allowed only when `EGRESS_ALLOW_LOOPBACK` is set (development; refused in production).

The original checked only literal IPv4 hosts and never resolved names (§13.8 #67).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Ranges refused even when `is_global` would accept them (or to be explicit about the notorious ones).
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT; also 100.100.100.200, a cloud metadata address
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local; 169.254.169.254 metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible (deprecated) forms
        "64:ff9b::/96",  # NAT64 wraps any IPv4 address, private ones included
        "64:ff9b:1::/48",
        "2002::/16",  # 6to4, same
        "fc00::/7",  # unique local; fd00:ec2::254 metadata
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)

Resolver = Callable[[str, int], Awaitable[list[str]]]


class EgressRefused(ValueError):
    """The destination may not be contacted; the message is safe to show to the user."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    allowed_origins: frozenset[str] = frozenset()
    allow_loopback: bool = False
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def build(
        cls, origins: Iterable[str], *, allow_loopback: bool = False, resolver: Resolver | None = None
    ) -> EgressPolicy:
        normalised = frozenset(origin_of(urlsplit(o.strip())) for o in origins if o.strip())
        return cls(normalised, allow_loopback, resolver or system_resolver)

    def allows_origin(self, scheme: str, host: str, port: int) -> bool:
        return f"{scheme}://{_host_text(host)}:{port}" in self.allowed_origins


def _host_text(host: str) -> str:
    host = host.lower().rstrip(".")
    return f"[{host}]" if ":" in host else host


def origin_of(parts: SplitResult) -> str:
    """`scheme://host:port` with the default port written out, so `https://a` equals `https://a:443`."""
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raise EgressRefused("the URL's port is not valid") from None
    return f"{scheme}://{_host_text(parts.hostname or '')}:{port}"


def address_allowed(ip: str, *, allow_loopback: bool = False) -> bool:
    try:
        address: Address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if allow_loopback and any(address in n for n in LOOPBACK_NETWORKS):
        return True
    return address.is_global and not any(address in n for n in BLOCKED_NETWORKS)


@dataclass(frozen=True)
class Target:
    """A vetted destination: where to connect and what the URL said."""

    url: str
    scheme: str
    host: str
    port: int
    allowlisted: bool


def parse_target(url: str, policy: EgressPolicy) -> Target:
    """The checks that need no network: scheme, credentials, host form, allowlist."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise EgressRefused("the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressRefused("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EgressRefused("URLs with credentials are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise EgressRefused("the URL has no host")
    origin = origin_of(parts)
    port = int(origin.rsplit(":", 1)[1])
    if _NUMERIC_HOST.match(host) and not _is_canonical_ipv4(host):
        raise EgressRefused("IP addresses must be written as four decimal numbers")
    allowlisted = origin in policy.allowed_origins
    return Target(url.strip(), scheme, host, port, allowlisted)


def _is_canonical_ipv4(host: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


async def vetted_addresses(host: str, port: int, policy: EgressPolicy, *, allowlisted: bool) -> list[str]:
    """Every address of `host`, all checked; raises when any one is blocked (or none is found)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await policy.resolver(host, port)
        except (OSError, UnicodeError):
            raise EgressRefused(f"the host {host} cannot be resolved") from None
    if not addresses:
        raise EgressRefused(f"the host {host} cannot be resolved")
    if not allowlisted:
        for address in addresses:
            if not address_allowed(address, allow_loopback=policy.allow_loopback):
                raise EgressRefused(f"the host {host} points to a private or reserved address")
    return addresses


async def check_url(url: str, policy: EgressPolicy) -> Target:
    """Validate a user-supplied URL now (creation time); the client checks again when it connects."""
    target = parse_target(url, policy)
    await vetted_addresses(target.host, target.port, policy, allowlisted=target.allowlisted)
    return target
