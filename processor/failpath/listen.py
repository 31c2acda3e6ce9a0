"""Listening sockets bound from config endpoints (port 0 picks a free port, as tests do)."""

import socket
import ssl

from failpath.config_types import split_host_port


def bind(endpoint: str) -> socket.socket:
    host, port = split_host_port(endpoint)
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=1024)


def server_tls(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
