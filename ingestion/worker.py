"""A helper process that pseudonymises the IDs of a large file on the side.

HMAC-SHA256 of each resident ID is plain Python, one value after another,
holding the interpreter's lock: about 0.8 s per million IDs. For a file of
several chunks the loader starts this helper, so hashing chunk k runs on the
other core while the main process reads and checks chunk k+1.

The helper is this file run as a script with the standard library only
(`python -I -S worker.py`): it starts in a few milliseconds. It gets the
pseudonymisation key first, on its standard input (never in its arguments or
environment), then answers each batch of IDs with their pseudonyms, in the
order sent. `Worker` is the loader's side of it; batches are sent from one
thread, so its futures complete in the order submitted.

(Decoding GB18030 here too was measured and dropped: shipping each block
through the pipe and back cost the main process about as much as decoding
it, and the load took longer.)
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

_BLOCK = 64  # SHA-256 block size in bytes
_LENGTH = struct.Struct(">Q")


def hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the inner and outer pads of HMAC (RFC 2104), prepared once per key."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def hmac_hex(inner: hashlib._Hash, outer: hashlib._Hash, values: Iterable[str]) -> list[str]:
    """HMAC-SHA256 of each value (as UTF-8), in hex, from the prepared pad states.

    Copying two prepared states per value is about twice as fast as
    hmac.new() per value, which matters at a million rows; the result
    equals hmac.new(key, value, sha256).hexdigest() (tests/unit/test_parsers.py).
    """
    out = []
    for value in values:
        i = inner.copy()
        i.update(value.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        out.append(o.hexdigest())
    return out


class Worker:
    """The loader's handle on a helper process (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        # -I -S: the standard library only; no site-packages, no PYTHON* variables, not the script's folder.
        self._process = subprocess.Popen([sys.executable, "-I", "-S", __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="govkpi-worker")
        self._pool.submit(self._send, key)

    def _send(self, *parts: bytes) -> None:
        stdin = self._pipe(self._process.stdin)
        stdin.write(_LENGTH.pack(sum(map(len, parts))))
        for part in parts:
            stdin.write(part)
        stdin.flush()

    @staticmethod
    def _pipe(stream: BinaryIO | None) -> BinaryIO:
        if stream is None:  # Popen was given PIPE: never the case
            raise RuntimeError("the helper process has no pipe")
        return stream

    def _receive(self) -> bytes:
        reply = _read_message(self._pipe(self._process.stdout))
        if reply is None:
            raise RuntimeError(f"the loader's helper process exited (code {self._process.poll()})")
        return reply

    def _pseudonymise(self, values: list[str]) -> list[str]:
        if not values:
            return []
        self._send("\n".join(values).encode("utf-8"))
        return self._receive().decode("ascii").split("\n")

    def submit(self, values: list[str]) -> Future[list[str]]:
        """Pseudonyms of `values` (the interface of `Pseudonymiser.submit`)."""
        if any("\n" in v for v in values):  # IDs are checked before they are hashed; never expected
            raise ValueError("an identifier to pseudonymise holds a line break")
        return self._pool.submit(self._pseudonymise, values)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(OSError):
            self._pipe(self._process.stdin).close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __repr__(self) -> str:  # never show the key
        return "Worker(<key hidden>)"


def _read_message(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def _serve() -> int:
    """The helper's loop: a key, then requests answered in order until standard input closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    key = _read_message(source)
    if key is None:
        return 1
    inner, outer = hmac_pads(key)
    while (batch := _read_message(source)) is not None:
        reply = "\n".join(hmac_hex(inner, outer, batch.decode("utf-8").split("\n"))).encode("ascii")
        sink.write(_LENGTH.pack(len(reply)))
        sink.write(reply)
        sink.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
