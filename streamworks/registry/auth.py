"""HTTP basic auth of the registry: who the caller is, checked against the users file.

scrypt costs tens of milliseconds by design, and a codec fetching schemas would pay it on
every request, so a successful check is remembered for a short while, keyed by the user and
a SHA-256 of the password (never the password itself). Failed checks are never remembered.
The users file is re-read when it changes, so adding a user needs no restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import Middleware

from streamworks.registry.errors import UnauthorizedError, UsersFileError
from streamworks.registry.passwords import hash_password, verify_password
from streamworks.registry.users import User, load_users

__all__ = ["CALLER", "OPEN_PATHS", "REALM", "Authenticator", "authentication", "caller"]

logger = logging.getLogger(__name__)

REALM = 'Basic realm="streamworks registry"'
"""The ``WWW-Authenticate`` challenge of every 401."""
OPEN_PATHS = frozenset({"/metrics"})
"""Paths answered without a login: Prometheus figures (route patterns and counts only)."""
CALLER: web.RequestKey[User] = web.RequestKey("registry_caller", User)
"""Where the authenticated user of a request is kept."""
_CACHE_LIMIT = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Authenticator:
    """Checks basic-auth headers against a users file (re-read when it changes)."""

    def __init__(
        self, users_file: Path, *, cache_seconds: float = 60.0, reload_seconds: float = 2.0
    ) -> None:
        self.users_file = users_file
        self._cache_seconds = cache_seconds
        self._reload_seconds = reload_seconds
        self._users = load_users(users_file)  # a bad file fails the start, with the reason
        self._stamp = _stamp(users_file)
        self._checked_at = time.monotonic()
        self._verified: dict[tuple[str, str], float] = {}
        # an unknown user still costs one scrypt, so response times do not tell who exists
        self._decoy = hash_password("streamworks-decoy")

    @property
    def users(self) -> dict[str, User]:
        """The users, re-read from the file if it changed since the last look."""
        now = time.monotonic()
        if now - self._checked_at >= self._reload_seconds:
            self._checked_at = now
            stamp = _stamp(self.users_file)
            if stamp != self._stamp:
                self._reload(stamp)
        return self._users

    def _reload(self, stamp: tuple[int, int] | None) -> None:
        try:
            users = load_users(self.users_file)
        except UsersFileError as error:
            self._stamp = stamp  # warn once per edit, not once per request
            logger.warning("keeping the registry users loaded before: %s", error)
            return
        self._users, self._stamp = users, stamp
        self._verified.clear()
        logger.info("registry users reloaded from %s (%d users)", self.users_file, len(users))

    async def authenticate(self, header: str | None) -> User:
        """The user an ``Authorization`` header logs in; UnauthorizedError if it does not."""
        if not header:
            raise UnauthorizedError("authentication required: log in with HTTP basic auth")
        try:
            login = BasicAuth.decode(header, encoding="utf-8")
        except ValueError:
            raise UnauthorizedError("the Authorization header is not HTTP basic auth") from None
        user = self.users.get(login.login)
        key = (login.login, hashlib.sha256(login.password.encode()).hexdigest())
        now = time.monotonic()
        if user is not None and self._verified.get(key, 0.0) > now:
            return user
        encoded = user.password_hash if user is not None else self._decoy
        matches = await asyncio.to_thread(verify_password, login.password, encoded)
        if user is None or not matches:
            logger.info("registry login refused for user %r", login.login)
            raise UnauthorizedError("wrong user name or password")
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[key] = now + self._cache_seconds
        return user


def authentication(authenticator: Authenticator) -> Middleware:
    """Middleware: every request but :data:`OPEN_PATHS` needs a valid login."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            header = request.headers.get(hdrs.AUTHORIZATION)
            request[CALLER] = await authenticator.authenticate(header)
        return await handler(request)

    return authenticate


def caller(request: web.Request) -> User | None:
    """The logged-in user of ``request``; None when the registry is open (no users file)."""
    return request.get(CALLER)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
