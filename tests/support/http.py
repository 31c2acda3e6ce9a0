"""Plain HTTP/1.1 requests from the standard library, returning status, headers and body whatever the status."""

import http.client
import ssl
from urllib.parse import urlsplit


def request(
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=10, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
