"""Pseudonymisation of citizens' ID numbers.

An ID number is replaced by HMAC-SHA256 under a key that only the pipeline
holds (`GOVKPI_PSEUDONYM_KEY`). The same person gets the same pseudonym in
every extract and every run, so people can be counted and joined, but the
number cannot be recovered or confirmed without the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from concurrent.futures import Future

from ingestion.worker import Worker, hmac_hex, hmac_pads

MIN_KEY_BYTES = 32
# What the key's fingerprint is the HMAC of: not an ID number, so never a pseudonym.
_FINGERPRINT_MESSAGE = b"govkpi pseudonymisation key fingerprint, version 1"


class Pseudonymiser:
    """Keyed hash of identifiers; the key never leaves this object, except to its own helper process."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._inner, self._outer = hmac_pads(key)
        # Identifies the key without revealing it: the warehouse records the
        # fingerprint of the key it was built with (ingestion.loader).
        self.fingerprint = hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()

    def pseudonymise(self, value: str) -> str:
        return self.pseudonymise_many((value,))[0]

    def pseudonymise_many(self, values: Iterable[str]) -> list[str]:
        return hmac_hex(self._inner, self._outer, values)

    def submit(self, values: list[str]) -> Future[list[str]]:
        """Pseudonyms of `values`, as a future; here computed at once (a `Worker` computes them on the side)."""
        future: Future[list[str]] = Future()
        future.set_result(self.pseudonymise_many(values))
        return future

    @contextlib.contextmanager
    def worker(self) -> Iterator[Worker]:
        """A helper process (`ingestion.worker`) holding this key, for the length of a large file's load."""
        worker = Worker(self._key)
        try:
            yield worker
        finally:
            worker.close()

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymiser(<key hidden>)"
