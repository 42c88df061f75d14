"""A TCP proxy the test controls, between the service and the shared PostgreSQL: cutting it makes the
database vanish for the service only (the shared server is never stopped; other people use it)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``.

    ``cut("refuse")``: like a stopped server - open connections are reset and new ones refused.
    ``cut("blackhole")``: like a lost network - open connections are reset, new ones are accepted
    and never answered.  ``restore()`` forwards again on the same port.
    """

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.mode = "forward"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._start_accepting()

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        return s

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._conns.append(client)
                mode = self.mode
            if mode == "blackhole":
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._reset(client)
                continue
            with self._lock:
                self._conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _reset(s: socket.socket) -> None:
        """Drop the connection with RST (linger 0).  shutdown() first: on Linux, close() alone does not wake a
        thread blocked in recv() on the socket, and the connection would live on."""
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()

    def cut(self, mode: str = "refuse") -> None:
        assert mode in ("refuse", "blackhole")
        with self._lock:
            self.mode = mode
            conns, self._conns = self._conns, []
        for s in conns:
            self._reset(s)
        if mode == "refuse":
            self._reset(self._listener)  # shutdown() wakes the thread blocked in accept(); close() alone would not

    def restore(self) -> None:
        with self._lock:
            was, self.mode = self.mode, "forward"
            held, self._conns = self._conns, []
        for s in held:  # connections accepted while black-holed: never forwarded, so reset them
            self._reset(s)
        if was == "refuse":
            self._listener = self._listen(self.port)
            self._start_accepting()

    def close(self) -> None:
        self.cut("refuse")
