"""Pseudonymisation of citizens' ID numbers.

An ID number is replaced by HMAC-SHA256 under a key that only the pipeline
holds (`GOVKPI_PSEUDONYM_KEY`). The same person gets the same pseudonym in
every extract and every run, so people can be counted and joined, but the
number cannot be recovered or confirmed without the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MIN_KEY_BYTES = 32
_BLOCK = 64  # SHA-256 block size in bytes


class Pseudonymiser:
    """Keyed hash of identifiers; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes")
        # HMAC-SHA256 per RFC 2104 with the inner and outer pads hashed once:
        # copying two prepared SHA-256 states per value is about twice as fast
        # as hmac.new() per value, which matters at a million rows. The
        # result equals hmac.new(key, value, sha256) (tests/test_pii.py).
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def pseudonymise(self, value: str) -> str:
        return self.pseudonymise_many((value,))[0]

    def pseudonymise_many(self, values: Iterable[str]) -> list[str]:
        inner, outer = self._inner, self._outer
        out = []
        for value in values:
            i = inner.copy()
            i.update(value.encode("utf-8"))
            o = outer.copy()
            o.update(i.digest())
            out.append(o.hexdigest())
        return out

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymiser(<key hidden>)"
