"""A TCP relay in front of the real PostgreSQL that a test can cut and restore, like a network partition.

The shared PostgreSQL itself is never stopped (other tests use it); cutting the relay is the same outage as far
as a client is concerned: open connections drop and new ones are refused until it is restored.
"""

from __future__ import annotations

import asyncio
import threading


class Outage:
    def __init__(self, upstream_port: int = 5432) -> None:
        self.up = True
        self.upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"postgresql://postgres@127.0.0.1:{port}/test"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._links |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def cut(self) -> None:
        self.up = False
        for link in self._links:
            link.close()
        self._links.clear()

    async def stop(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()


class ThreadedOutage:
    """``Outage`` on its own event loop thread, for tests that drive a proxy subprocess synchronously."""

    def __init__(self) -> None:
        self.outage = Outage()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.outage.start(), self._loop).result(timeout=10)

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self.outage.cut)

    def restore(self) -> None:
        self.outage.up = True

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.outage.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
