"""Listening sockets bound from config endpoints (port 0 picks a free port, as tests do), their TLS
contexts, and how many connections each receiver may hold."""

import resource
import socket
import ssl

from failpath.config_types import split_host_port


class ListenError(Exception):
    """A configured endpoint cannot be listened on (in use, not an address of this host, no permission)."""

    def __init__(self, what: str, endpoint: str, reason: str) -> None:
        super().__init__(f"{what} cannot listen on {endpoint}: {reason}")


def bind(what: str, endpoint: str) -> socket.socket:
    host, port = split_host_port(endpoint)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as error:
        raise ListenError(what, endpoint, error.strerror or str(error)) from None


def connect_address(endpoint: str, port: int | None = None) -> str:
    """host:port a client on this machine connects to for a listen endpoint: a wildcard address is reached
    on loopback; port, when given, is the one actually bound (the endpoint may say 0)."""
    host, configured = split_host_port(endpoint)
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{configured if port is None else port}"


def server_tls(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


# Descriptors kept back from the receivers' connection caps: the admin port and its connections, the
# store and its WAL, packet files, exporter connections, gRPC's and asyncio's own.
_RESERVED_FDS = 64


def connection_cap(configured: int | str, receivers: int) -> int:
    """A receiver's connection cap: as configured, or for "auto" an even share (among the enabled
    receivers) of the open-file limit left after a reserve, between 8 and 4096."""
    if configured != "auto":
        return int(configured)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(8, min(4096, (soft - _RESERVED_FDS) // max(receivers, 1)))
