"""What an upload reads from: bytes, a seekable binary file, or (in the page) a Blob.

A source knows its ``size``, the SHA-256 of the whole content (lowercase
hex), and cuts ``chunk(start, end)``: the chunk's body and the base64 SHA-256
the ``Upload-Checksum`` header carries. In the page the body stays in
JavaScript (``Chunk.raw``, a ``RequestInit`` holding an ``ArrayBuffer`` sliced
from the Blob, hashed with Web Crypto), so a large file is never copied
through Python; the tus logic that uses the chunk is the same either way.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import IO, Any, Protocol, runtime_checkable

from ._errors import InvalidRequestError

_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """One PATCH body: Python bytes, or a page-side body in ``raw``; and its checksum."""

    size: int
    checksum: str  # base64 of the chunk's SHA-256 digest
    body: bytes | None = None
    raw: Any = None


@runtime_checkable
class UploadSource(Protocol):
    """The data an ``Upload`` sends."""

    size: int
    name: str
    type: str

    async def sha256(self) -> str:
        """The whole content's SHA-256, lowercase hex."""
        ...

    async def chunk(self, start: int, end: int) -> Chunk:
        """Bytes ``[start, end)`` and their checksum."""
        ...


def checksum(data: bytes) -> str:
    """Base64 of SHA-256(data), as ``Upload-Checksum: sha256 <this>`` wants it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


class BytesSource:
    """Bytes held in memory (``bytes``, ``bytearray``, ``memoryview``)."""

    def __init__(
        self, data: bytes | bytearray | memoryview, name: str = "", type: str = ""
    ) -> None:
        self._data = bytes(data)
        self.size = len(self._data)
        self.name = name
        self.type = type
        self._hex: str | None = None

    async def sha256(self) -> str:
        """Hashed once, then remembered."""
        if self._hex is None:
            self._hex = hashlib.sha256(self._data).hexdigest()
        return self._hex

    async def chunk(self, start: int, end: int) -> Chunk:
        """A slice of the bytes."""
        body = self._data[start:end]
        return Chunk(size=len(body), checksum=checksum(body), body=body)


class FileSource:
    """A seekable binary file object, read one chunk at a time (CPython: big files)."""

    def __init__(self, file: IO[bytes], name: str = "", type: str = "") -> None:
        self._file = file
        start = file.tell()
        self.size = file.seek(0, 2) - start
        self._start = start
        self.name = name or str(getattr(file, "name", "") or "")
        self.type = type
        self._hex: str | None = None

    async def sha256(self) -> str:
        """Streamed through hashlib in 1 MiB blocks."""
        if self._hex is None:
            digest = hashlib.sha256()
            self._file.seek(self._start)
            while block := self._file.read(_READ_BLOCK):
                digest.update(block)
            self._hex = digest.hexdigest()
        return self._hex

    async def chunk(self, start: int, end: int) -> Chunk:
        """Seek and read."""
        self._file.seek(self._start + start)
        body = self._file.read(end - start)
        if len(body) != end - start:
            raise InvalidRequestError(
                f"the file changed while uploading: read {len(body)} bytes at {start}, "
                f"expected {end - start}",
                field="data",
            )
        return Chunk(size=len(body), checksum=checksum(body), body=body)


def source_of(data: Any, name: str = "", type: str = "") -> UploadSource:
    """Wrap ``data`` (bytes-like, a seekable binary file, or a ready source)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return BytesSource(data, name, type)
    if isinstance(data, UploadSource):
        return data
    if callable(getattr(data, "read", None)) and callable(getattr(data, "seek", None)):
        if isinstance(data.read(0), str):
            raise InvalidRequestError("open the file in binary mode ('rb')", field="data")
        return FileSource(data, name, type)
    raise InvalidRequestError(
        f"data must be bytes or a binary file opened with 'rb', not {type_name(data)}",
        field="data",
    )


def type_name(value: Any) -> str:
    """The type's name, for messages."""
    return type(value).__name__
