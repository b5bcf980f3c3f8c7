"""A TCP proxy that can be cut and restored: a dependency going down without losing its state."""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `down()` resets every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._listener.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """http URL of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # RST: looks like a refused/dead server
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update({client, upstream})
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        socks = [a, b]
        try:
            while self._up.is_set():
                readable, _, _ = select.select(socks, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in socks:
                with contextlib.suppress(OSError):
                    s.close()
            with self._lock:
                self._conns.difference_update(socks)

    def down(self) -> None:
        """Cut every connection and refuse new ones."""
        self._up.clear()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            with contextlib.suppress(OSError):
                s.close()

    def up(self) -> None:
        """Accept and forward again."""
        self._up.set()

    def close(self) -> None:
        """Stop the proxy."""
        self._closed = True
        self.down()
        self._listener.close()
