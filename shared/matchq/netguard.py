"""Webhook URLs that cannot reach inside: the URL rules, the address check after DNS, and a
POST over a connection pinned to the checked address.

A URL is checked at registration and again before every delivery attempt. The host is
resolved once per attempt, every address it resolves to must be public (not private,
loopback, link-local, shared, multicast, reserved, unspecified or a cloud metadata
address, also when embedded in an IPv6 form such as ``::ffff:127.0.0.1``), and the
connection goes to one of those checked addresses: a DNS answer that changes between the
check and the connection (DNS rebinding) never reaches the socket. TLS still verifies the
certificate against the URL's host name (SNI). Redirects are not followed (http.client
never follows them) and at most `MAX_RESPONSE_BYTES` of an answer are read.

Numeric hosts are accepted only as a dotted-quad IPv4 address or a bracketed IPv6
address; the other forms the C resolver would accept (``0x7f.1``, ``2130706433``,
``0177.0.0.1``) are refused outright, so no host means one thing here and another there.

`allow_loopback` (MATCHQ_WEBHOOKS_ALLOW_LOOPBACK, set by the local stack only) also allows
``http://127.0.0.1:PORT/`` and ``http://localhost:PORT/`` (loopback addresses only, the
other rules unchanged): a receiver on the developer's machine.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 64 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Not covered by `is_global` (or worth stating): metadata services, NAT64 and 6to4 forms.
_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.169.254/32",  # EC2, ECS and most clouds' instance metadata
        "fd00:ec2::254/128",  # EC2 instance metadata over IPv6
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "64:ff9b::/96",  # NAT64: embeds an IPv4 address
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4: embeds an IPv4 address
    )
)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
LOOPBACK_NAMES = {"localhost", "localhost."}


class UnsafeUrl(ValueError):
    """A webhook URL that is refused; the message says why (safe to show the caller)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (one of `addresses`) and what to ask for."""

    url: str
    scheme: str
    host: str  # as in the URL, without brackets (the Host header and the TLS server name)
    port: int
    path: str  # path and query
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be called (None when it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped IPv6 address"
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            problem = address_problem(embedded)
            return f"an IPv6 form of {embedded} ({problem})" if problem else None
    if allow_loopback and address.is_loopback:
        return None
    if any(address in net for net in _BLOCKED):
        return "a metadata or internal address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_unspecified or address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _host_address(host: str) -> IPAddress | None:
    """The address a numeric host names; None for a DNS name. Refuses odd numeric forms."""
    if ":" in host:
        if "%" in host:
            raise UnsafeUrl("url: scoped IPv6 addresses are not allowed")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrl("url: the host is not a valid IPv6 address") from None
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(host.rstrip("."))
        except ValueError:
            raise UnsafeUrl(
                "url: a numeric host must be a dotted-quad IPv4 address (like 203.0.113.7)"
            ) from None
    return None


def parse_url(url: str, *, allow_loopback: bool = False) -> Target:
    """The URL rules without DNS: scheme, host syntax, port; `addresses` is empty for a name."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"url: at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeUrl("url: must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"url: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise UnsafeUrl("url: must start with https://")
    if "@" in parts.netloc:
        raise UnsafeUrl("url: must not contain a user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl("url: has no host")
    address = _host_address(host)
    loopback_host = host in LOOPBACK_NAMES or (address is not None and address.is_loopback)
    if scheme == "http" and not (allow_loopback and loopback_host):
        raise UnsafeUrl("url: must use https")
    if address is not None:
        if problem := address_problem(address, allow_loopback=allow_loopback):
            raise UnsafeUrl(f"url: the host is {problem}")
        addresses: tuple[str, ...] = (str(address),)
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeUrl("url: the host is not a valid DNS name") from None
        if not all(_LABEL.match(label) for label in ascii_host.rstrip(".").split(".")):
            raise UnsafeUrl("url: the host is not a valid DNS name")
        host = ascii_host
        addresses = ()
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(
        url=url,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        addresses=addresses,
    )


def check_url(
    url: str, *, allow_loopback: bool = False, resolver: Resolver = system_resolver
) -> Target:
    """`parse_url`, then resolve the host: every address must be allowed (UnsafeUrl if not)."""
    target = parse_url(url, allow_loopback=allow_loopback)
    if target.addresses:
        return target
    try:
        found = resolver(target.host, target.port)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"url: the host {target.host} does not resolve") from None
    if not found:
        raise UnsafeUrl(f"url: the host {target.host} does not resolve")
    addresses = []
    for text in dict.fromkeys(found):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise UnsafeUrl(f"url: the host {target.host} resolves to {text!r}") from None
        if problem := address_problem(address, allow_loopback=allow_loopback):
            raise UnsafeUrl(f"url: the host {target.host} resolves to {problem}")
        addresses.append(str(address))
    return Target(**{**target.__dict__, "addresses": tuple(addresses)})


# --- the POST ----------------------------------------------------------------------------------


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_RESPONSE_BYTES

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` to a checked target, connecting only to its checked addresses (the first
    that accepts). No redirect is followed: a 3xx is an answer like any other."""
    if not target.addresses:
        raise UnsafeUrl("url: not checked (no resolved address)")
    error: OSError | None = None
    for address in target.addresses:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPS(
                target.host, target.port, address, timeout, context or ssl.create_default_context()
            )
        else:
            connection = _PinnedHTTP(target.host, target.port, address, timeout)
        try:
            connection.connect()
        except OSError as exc:
            error = exc
            connection.close()
            continue
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            return Answer(status=response.status, body=response.read(MAX_RESPONSE_BYTES))
        finally:
            connection.close()
    assert error is not None
    raise error
