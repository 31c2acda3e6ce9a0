import socket


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for servers that must start later on a known port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
