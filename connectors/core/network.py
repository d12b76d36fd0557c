"""Where connections may go: the operator's network policy, checked on the resolved address.

A hosted platform must not become a way into its own network. Every host a connector reaches (database host,
REDCap/LORIS URL, S3 endpoint) is resolved once here; every address it resolves to must be allowed, and the
connector then connects to that address (libpq's ``hostaddr``, a socket it opens itself, or :func:`pinned` for
libraries that resolve names themselves), so a second DNS answer cannot point elsewhere (no DNS rebinding).

Policy: ``public`` allows globally routable addresses; explicit networks (``127.0.0.0/8``, ``10.1.0.0/16``) allow
more. Loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved and multicast addresses
are refused unless an explicit network lists them, and so are the platform's own services (its database, broker
and storage endpoints).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.core.contract_errors import ConnectorError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PUBLIC = "public"


@dataclass(frozen=True)
class NetworkPolicy:
    """Allowed destinations: ``public`` addresses (if set) plus explicit ``networks``; never ``platform`` ones."""

    public: bool = True
    networks: tuple[Network, ...] = ()
    platform: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str], platform: Iterable[tuple[str, int]] = ()) -> NetworkPolicy:
        """``["public", "127.0.0.0/8"]`` -> a policy; a bad entry raises ``ValueError`` naming it."""
        public = False
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if entry.lower() == PUBLIC:
                public = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not a network: {entry!r} (use 'public' or a CIDR such as 10.0.0.0/8)") from None
        return cls(public=public, networks=tuple(networks), platform=frozenset(platform))

    def refusal(self, address: Address, port: int) -> str | None:
        """Why ``address:port`` is refused (a sentence), or None when it is allowed."""
        address = _unmapped(address)
        if any(address in network for network in self.networks):
            return None
        if (str(address), port) in self.platform:
            return "it is one of the platform's own services"
        if self.public and address.is_global:
            return None
        return f"it is a {_category(address)} address and this platform only connects to {self._allowed()}"

    def _allowed(self) -> str:
        parts = ["public addresses"] if self.public else []
        parts += [str(network) for network in self.networks]
        return ", ".join(parts) or "no address at all"


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _category(address: Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata)"
    if address.is_private:
        return "private"
    if address.is_multicast:
        return "multicast"
    return "reserved"


def resolve(policy: NetworkPolicy, host: str, port: int) -> str:
    """Resolve ``host`` once and return the address to connect to; refuse the host if any address it resolves to
    is not allowed (``network_refused``) or if it does not resolve (``host_not_found``)."""
    host = (host or "").strip().strip("[]")
    if not host or len(host) > 253:
        raise ConnectorError("invalid_config", "A host name is required.")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = _original_getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise ConnectorError("host_not_found", f"The host {host!r} could not be resolved.") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise ConnectorError("host_not_found", f"The host {host!r} could not be resolved.")
    for address in addresses:
        reason = policy.refusal(address, port)
        if reason is not None:
            raise ConnectorError(
                "network_refused",
                f"Connections to {host!r} are not allowed: {reason}.",
                {"host": host, "address": str(_unmapped(address))},
            )
    return str(_unmapped(addresses[0]))


# Libraries that resolve names themselves (boto3, httpx, PyMySQL) are pinned to the checked address: a thread-local
# table consulted by a wrapper of socket.getaddrinfo, installed once. Other names resolve as usual.
_original_getaddrinfo = socket.getaddrinfo
_pins = threading.local()


def _pinned_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    table: dict[str, str] = getattr(_pins, "table", {})
    if isinstance(host, bytes):
        host = host.decode("idna")
    if isinstance(host, str) and host.lower() in table:
        host = table[host.lower()]
    return _original_getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _pinned_getaddrinfo


@contextmanager
def pinned(host: str, address: str) -> Iterator[None]:
    """Inside the block, this thread resolves ``host`` to ``address`` (the one the policy checked)."""
    table: dict[str, str] = dict(getattr(_pins, "table", {}))
    previous = getattr(_pins, "table", {})
    table[host.lower()] = address
    _pins.table = table
    try:
        yield
    finally:
        _pins.table = previous
