"""The app roles' passwords: generated here, set on the server as SCRAM, kept in the data dir.

On the embedded server the app roles need none (its socket is private and trusts its OS
user); on a real server each role needs one. ``set_password`` stores the password in
``<data dir>/passwords.json`` (mode 0600) and sets only its SCRAM-SHA-256 verifier on the
server, computed here (RFC 5802/7677): the password itself never crosses the connection,
so no server log can show it. The role URLs mergepoint prints (``mergepoint env``,
``db url``) and the pooler's user list read the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from psycopg import sql

from schema.db import owner_connect
from schema.errors import MergepointError

FILE = "passwords.json"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations
MIN_LENGTH = 16


def generate() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, URL-safe: no quoting in a URL


def scram_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS
) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, as PostgreSQL stores it."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def load(directory: Path) -> dict[str, str]:
    """Role name (as on the server, prefixed) -> password; empty when none were set."""
    path = directory / FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MergepointError(f"cannot read {path}: {exc}") from exc
    return {str(k): str(v) for k, v in data.items()}


def _save(directory: Path, passwords: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(passwords, f, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def validate(password: str) -> str:
    password = password.strip("\r\n")
    if len(password) < MIN_LENGTH:
        raise MergepointError(f"the password must have at least {MIN_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise MergepointError("the password must not contain control characters")
    return password


def set_password(owner_url: str, role: str, directory: Path, password: str | None = None) -> str:
    """Set ``role``'s password (generated unless given) as SCRAM; keep it; return it."""
    password = validate(password) if password is not None else generate()
    with owner_connect(owner_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) %s", [role]
        ).fetchone()
        if exists is None:
            raise MergepointError(f"role {role} does not exist: run `mergepoint migrate` first")
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(scram_verifier(password))
            )
        )
    stored = load(directory)
    stored[role] = password
    _save(directory, stored)
    return password
