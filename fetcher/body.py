"""Keeping at most a fixed number of decoded body bytes, however the body is encoded.

Compressed bodies are inflated incrementally with ``max_length`` set to the room left, so a
decompression bomb never inflates past the cap: once the cap is reached the collector asks
for a single extra byte to learn whether anything was cut, and reading stops.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import NamedTuple

#: Content-Encoding values decoded here, with the zlib window bits for each.
#: Plain "deflate" is meant to be zlib-wrapped but is often sent raw; the first two bytes decide.
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
#: Content-Encoding values that mean "not encoded".
IDENTITY_ENCODINGS = frozenset({"", "identity"})


class Body(NamedTuple):
    """The part of a response body that was kept, and what is known about the rest."""

    kept: bytes
    sha256: str
    truncated: bool
    #: Content-Encoding as sent (lower-case), or None when the body was not encoded.
    encoding: str | None
    #: Whether ``kept`` is decoded content rather than bytes in a coding not decoded here.
    decoded: bool

    @property
    def size(self) -> int:
        """Number of body bytes kept."""
        return len(self.kept)


class BodyCollector:
    """Decodes a streamed body, keeps at most ``max_bytes`` of it, and hashes what it kept."""

    def __init__(self, *, max_bytes: int, content_encoding: str | None) -> None:
        encoding = (content_encoding or "").strip().lower()
        #: The body's content coding as sent, or None when it was not encoded.
        self.encoding = None if encoding in IDENTITY_ENCODINGS else encoding
        #: Whether ``kept`` holds decoded content (False for codings not decoded here).
        self.decoded = self.encoding is None or self.encoding in DECODED_ENCODINGS
        #: True once anything had to be dropped, by the cap or because reading stopped early.
        self.truncated = False
        self.kept = bytearray()
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self._inflater: zlib._Decompress | None = None
        self._undecided = b""

    def result(self) -> Body:
        """Return what has been kept so far."""
        return Body(
            kept=bytes(self.kept),
            sha256=self._digest.hexdigest(),
            truncated=self.truncated,
            encoding=self.encoding,
            decoded=self.decoded,
        )

    def feed(self, data: bytes) -> bool:
        """Take the next bytes off the wire; return False once the cap is reached.

        Raises zlib.error when a gzip or deflate body is corrupt.
        """
        if self.encoding is None or not self.decoded:
            self._keep(data)
        else:
            self._inflate(data)
        return not self.truncated

    def _inflate(self, data: bytes) -> None:
        pending = self._undecided + data
        if self._inflater is None:
            wbits = self._window_bits(pending)
            if wbits is None:
                self._undecided = pending
                return
            self._undecided = b""
            self._inflater = zlib.decompressobj(wbits)
        while pending and not self.truncated:
            room = self._max_bytes - len(self.kept)
            # With no room left, ask for one byte: getting it proves the body was cut.
            output = self._inflater.decompress(pending, max(room, 1))
            self._keep(output)
            pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # A gzip body may be several members back to back; anything else after the
                # end of a zlib or raw deflate stream is trailing garbage and ignored.
                pending = self._inflater.unused_data
                if not pending or self.encoding == "deflate":
                    return
                self._inflater = zlib.decompressobj(GZIP_WBITS)

    def _window_bits(self, pending: bytes) -> int | None:
        """Choose the zlib format for this body, or None until enough bytes have arrived."""
        if self.encoding != "deflate":
            return GZIP_WBITS
        if len(pending) < 2:
            return None
        # A zlib header: compression method 8 and a header checksum divisible by 31.
        is_zlib = pending[0] & 0x0F == 8 and (pending[0] << 8 | pending[1]) % 31 == 0
        return ZLIB_WBITS if is_zlib else RAW_DEFLATE_WBITS

    def _keep(self, data: bytes) -> None:
        room = self._max_bytes - len(self.kept)
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.kept += data
        self._digest.update(data)
