"""TCP ports on this machine: is one free, and which one is."""

from __future__ import annotations

import socket

from schema.errors import MergepointError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ensure_port_free(host: str, port: int, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise MergepointError(
                f"port {port} on {host} is not available ({exc.strerror});"
                f" choose another with {option} PORT"
            ) from exc

