"""Password hashes of registry users: scrypt with a random salt, in one self-describing string.

The string is ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash base64), so the cost can
be raised later without invalidating the hashes already in a users file: each one is
verified with the parameters it was made with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "is_password_hash", "verify_password"]

_SCHEME = "scrypt"
# 2^14 x 8 x 1: about 16 MiB and some tens of ms per hash, the usual interactive-login cost
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_FIELDS = 6
_MAX_N = 2**20  # refuse a file that would make one login take seconds and a GiB
_MAX_MEMORY = 2**30 + 2**20


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password`` for a users file."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the hash; False for a wrong password or a bad hash.

    The comparison takes the same time wherever the two hashes differ.
    """
    parts = encoded.split("$")
    if len(parts) != _FIELDS or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not (1 < n <= _MAX_N and r > 0 and p > 0 and expected):
        return False
    try:
        digest = _scrypt(password, salt, n, r, p, size=len(expected))
    except ValueError:  # parameters OpenSSL refuses
        return False
    return hmac.compare_digest(digest, expected)


def is_password_hash(encoded: str) -> bool:
    """True when ``encoded`` has the shape :func:`hash_password` writes."""
    parts = encoded.split("$")
    return len(parts) == _FIELDS and parts[0] == _SCHEME


def _scrypt(
    password: str, salt: bytes, n: int, r: int, p: int, *, size: int = _HASH_BYTES
) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=size
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
