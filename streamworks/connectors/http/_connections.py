"""The listening socket, and two guards aiohttp's request parser does not give.

1. A ``POST`` without ``Content-Length`` or chunked framing has, by HTTP/1.1, an empty
   body, so its body bytes would parse as the next request: aiohttp then answers a bare
   ``HTTP/1.0 400`` and the handler never sees the request. The parser is fed up to each
   end of a request head, and stops after a head that carries a body without framing;
   the handler answers it 411 and the connection closes (the rest is unreadable).
2. A connection that sends part of its first request head and then stalls is answered
   408 and closed after the read timeout (aiohttp would hold it for its keep-alive time).
   Later requests on a kept-alive connection fall back to aiohttp's keep-alive timeout,
   because only the first head is known to have nothing in flight before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from streamworks.connectors.http._answers import timeout_answer

__all__ = ["GuardedSite", "unframed"]

logger = logging.getLogger(__name__)

_HEAD_END = b"\r\n\r\n"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def unframed(method: str, has_length: bool, chunked: bool) -> bool:
    """A request of a method that carries a body, with neither a length nor chunks."""
    return method in _BODY_METHODS and not has_length and not chunked


class _Parser:
    """aiohttp's request parser, fed one request head at a time (see the module's 1, 2)."""

    def __init__(self, parser: Any, protocol: asyncio.BaseProtocol, timeout_s: float) -> None:
        self._parser = parser
        self._protocol = protocol
        self._timeout_s = timeout_s
        self._stopped = False
        self._first_head = True
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:  # feed_eof, set_upgraded, message_consumed...
        return getattr(self._parser, name)

    def feed_data(self, data: bytes) -> tuple[list[Any], bool, bytes]:
        if self._stopped:
            return [], False, b""
        messages: list[Any] = []
        start, size = 0, len(data)
        while True:
            end = data.find(_HEAD_END, start)
            end = size if end < 0 else end + len(_HEAD_END)
            got, upgraded, tail = self._parser.feed_data(data[start:end])
            messages.extend(got)
            if upgraded:
                return messages, True, tail + data[end:]
            if got:
                self._head_done()
                message = got[-1][0]
                has_length = "Content-Length" in message.headers
                if unframed(message.method, has_length, message.chunked):
                    self._stopped = True  # the rest is a body without a length
                    return messages, False, b""
            if end >= size:
                if self._first_head and size and self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(
                        self._timeout_s, self._expire
                    )
                return messages, False, tail
            start = end

    def _head_done(self) -> None:
        self._first_head = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        """The first head did not arrive in time: nothing else is in flight, answer 408."""
        self._timer = None
        transport = getattr(self._protocol, "transport", None)
        if not self._first_head or transport is None or transport.is_closing():
            return
        self._stopped = True
        transport.write(timeout_answer(f"the request head did not arrive in {self._timeout_s} s"))
        transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site like aiohttp's ``TCPSite`` whose connections get the guards above."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, timeout_s: float) -> None:
        super().__init__(runner)
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._warned = False

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("call runner.setup() before starting the site")
        self._server = await asyncio.get_running_loop().create_server(
            self._guarded(server), self._host, self._port, reuse_address=True, backlog=128
        )

    def _guarded(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        def connection() -> asyncio.BaseProtocol:
            protocol = server()
            parser = getattr(protocol, "_parser", None)  # where aiohttp 3.14 keeps it
            if parser is None or not hasattr(parser, "feed_data"):
                if not self._warned:
                    self._warned = True
                    logger.warning("this aiohttp keeps its request parser elsewhere; no 411/408")
                return protocol
            # a stand-in with the parser's interface, which aiohttp's type does not know
            protocol._parser = _Parser(parser, protocol, self._timeout_s)  # type: ignore[assignment]
            return protocol

        return connection
