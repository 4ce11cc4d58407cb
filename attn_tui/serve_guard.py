"""Who may talk to `attn-tui --serve`, and what it may ask for: pure checks of hosts, origins and sizes.

Standard library only, so each rule is tested on its own (tests/test_serve.py).
"""

from __future__ import annotations

import ipaddress
import re
import socket

MAX_WIDTH, MAX_HEIGHT = 500, 200
"""The largest terminal an app is given, in cells: a 4K screen at a 7-pixel font is about 550 × 155.
A 100,000 × 20,000 resize once pushed one app past 3 GB."""


class ServeError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


# -- names: which hosts and origins are this server on loopback ---------------------------------

_REG_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*")
"""A host name: labels of letters, digits, `-` and `_`, no empty label, no trailing dot."""


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """A Host header (or an origin's authority) → (lower-cased host, port or None); None if malformed.

    Strict on purpose: no user info (`a@b`), no unbracketed IPv6, no empty or non-numeric port, no
    trailing dot, nothing but the host and port. IPv6 addresses come back without brackets.
    """
    if not value or value != value.strip():
        return None
    value = value.lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
        if not _REG_NAME.fullmatch(name):
            return None
    if not rest:
        return name, None
    if not re.fullmatch(r":[0-9]{1,5}", rest) or not 0 < int(rest[1:]) < 65536:
        return None
    return name, int(rest[1:])


def is_loopback_name(host: str) -> bool:
    """`localhost`, or a literal loopback address (IPv4 127/8, IPv6 ::1, IPv4-mapped ::ffff:127.x).

    Never a name that merely starts with `127.`: `127.evil.example` is whatever its owner's DNS says.
    """
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # Python < 3.13 calls ::ffff:127.0.0.1 not loopback
    return address.is_loopback


def host_allowed(header: str | None, *, loopback_only: bool) -> bool:
    """May a request with this Host header reach the server? A well-formed one always must be given;
    on a loopback bind it must also be a loopback name (a rebound name is not)."""
    parts = split_host(header)
    return parts is not None and (not loopback_only or is_loopback_name(parts[0]))


def same_origin(origin: str, host_header: str) -> bool:
    """Is `origin` (a websocket's Origin header) the page this server served at `host_header`?

    Scheme `http` or `https`, then exactly the Host's name and port (a missing port is the
    scheme's default, as browsers send both); `null`, user info, paths and other schemes are not.
    """
    scheme, sep, authority = origin.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return False
    default = 443 if scheme.lower() == "https" else 80
    mine, theirs = split_host(host_header), split_host(authority)
    if mine is None or theirs is None:
        return False
    return (theirs[0], theirs[1] or default) == (mine[0], mine[1] or default)


def bind_is_loopback(host: str) -> bool:
    """Does binding to `host` listen on loopback only? Every address it resolves to must be loopback
    (`localhost`, `127.0.0.2`, `::1` are; `0.0.0.0`, `::`, a LAN address and `""`, every interface,
    are not). ServeError if the name does not resolve."""
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ServeError(f"--host {host}: cannot resolve it: {getattr(error, 'strerror', None) or error}") from None
    return all(is_loopback_name(str(info[4][0]).split("%")[0]) for info in infos)


def clamp_size(width: object, height: object, default: tuple[int, int] = (80, 24)) -> tuple[int, int]:
    """A terminal size from the browser → one an app may have: whole numbers, 1…MAX_WIDTH × 1…MAX_HEIGHT.

    Anything that is not a whole number (text, a float, a bool, null) counts as the default.
    """
    def whole(value: object, fallback: int) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,12}\s*", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return fallback

    return (min(max(whole(width, default[0]), 1), MAX_WIDTH),
            min(max(whole(height, default[1]), 1), MAX_HEIGHT))
