"""A loopback TCP proxy that counts the MongoDB commands a client sends.

Every client-to-server wire message is framed by its 16-byte header (length, requestID,
responseTo, opCode); for OP_MSG (2013) the command name is the first key of the body section, for
the legacy OP_QUERY (2004) handshake it is counted as "OP_QUERY". Bytes pass through unchanged.
Counting only reads headers and one BSON key per message, so the proxy adds little latency; the
benchmark still times approaches without it and uses it in a separate run.
"""
import socket
import struct
import threading
from collections import Counter

OP_MSG = 2013
OP_QUERY = 2004
OP_COMPRESSED = 2012


def command_name(opcode, body):
    """The command an OP_MSG body (the bytes after the header) carries."""
    if opcode == OP_QUERY:
        return "OP_QUERY"
    if opcode == OP_COMPRESSED:
        return "OP_COMPRESSED"
    if opcode != OP_MSG or len(body) < 10:
        return f"opcode{opcode}"
    # flagBits (4 bytes), then sections; kind 0 holds the command document. Kind-1 sequences
    # (insert/update payloads) may come first, so walk until the body section.
    pos = 4
    while pos < len(body):
        kind = body[pos]
        pos += 1
        if kind == 0:
            # int32 document length, then the first element: a type byte and its cstring name.
            end = body.index(b"\x00", pos + 5)
            return body[pos + 5:end].decode("utf-8", "replace")
        if kind == 1:
            (size,) = struct.unpack_from("<i", body, pos)
            pos += size
        else:
            break
    return "OP_MSG?"


class CountingProxy:
    """Listens on 127.0.0.1:<free port> and forwards to upstream (host, port)."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.counts = Counter()
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self):
        with self._lock:
            return Counter(self.counts)

    def close(self):
        self._closing = True
        self._listener.close()
        for s in list(self._sockets):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(s)
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    @staticmethod
    def _read_exact(sock, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _requests(self, src, dst):
        try:
            while True:
                header = self._read_exact(src, 16)
                if header is None:
                    break
                length, _, _, opcode = struct.unpack("<iiii", header)
                body = self._read_exact(src, length - 16) if length > 16 else b""
                if body is None:
                    break
                name = command_name(opcode, body)
                with self._lock:
                    self.counts[name] += 1
                dst.sendall(header + body)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            self._shut(src, dst)

    def _replies(self, src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._shut(src, dst)

    @staticmethod
    def _shut(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
