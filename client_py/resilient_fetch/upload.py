"""Resumable, verified uploads: a tus 1.0 client (core, creation, checksum, termination).

``client.upload(data, url)`` hashes the data (SHA-256), creates the upload
with ``POST url`` (``Upload-Length``, and ``Upload-Metadata`` holding the
filename and the hash), then sends it in chunks with ``PATCH`` at the
server's ``Upload-Offset``, each with ``Upload-Checksum: sha256 <base64>``.
Every request goes through the client's own pipeline (breaker, limiter,
queue, network gate) at ``upload.priority`` (low) with ``upload.timeout``
(120 s) per attempt.

What happens when something goes wrong::

    network error, timeout, 408/423/429/5xx     back off, HEAD for the offset, go on
    409 on a PATCH (offset conflict)            the same: HEAD, go on from the server's offset
    the device offline                          wait for the network (not a stall)
    460 on a chunk                              send that chunk again (checksum_retries)
    413 on a PATCH                              halve the chunk (down to 64 KiB) and resend
    404/410 on HEAD or PATCH                    the upload is gone: create it again, once
    another 4xx (409 on creation too)           UploadError at once (a bad request)
    max_stalls failures with no byte confirmed  UploadError (``offset`` kept)
    the server's hash of the file is not ours   HashMismatchError

Verification: the whole file's SHA-256 goes in ``Upload-Metadata`` (key
``sha256``, lowercase hex). A server that checks it answers the last PATCH
with ``Upload-State: complete`` (the result is ``verified``); on a mismatch it
refuses the last chunk with ``460`` naming ``sha256_received`` in its JSON
body, or answers ``410`` with ``Upload-State: failed``: ``HashMismatchError``.
A server that says neither leaves the result unverified (``verified=False``).

The upload URL, size, hash and offset are remembered in the outbox's store
under a fingerprint of the data, so the same data sent again (after a reload,
a crash, a restart) resumes from the server's offset (``_upload_records``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import re
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ._errors import (
    AbortedError,
    ChecksumMismatchError,
    CircuitOpenError,
    HashMismatchError,
    InvalidRequestError,
    NetworkError,
    OfflineError,
    QueueFullError,
    RateLimitedError,
    ResilienceError,
    RetryBudgetExceededError,
    TimeoutError,
    UploadError,
)
from ._models import Response
from ._upload_records import UploadRecords, fingerprint, uploads_store
from ._upload_sources import Chunk, UploadSource, source_of
from .config import RequestOptions, UploadConfig

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("resilient_fetch")

TUS_VERSION = "1.0.0"
_MIN_CHUNK = 64 * 1024
_METADATA_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII, no space, no comma
_RETRYABLE_STATUSES = frozenset({408, 409, 423, 429}) | frozenset(range(500, 600))
_LOCAL_REFUSALS = (CircuitOpenError, RateLimitedError, QueueFullError, RetryBudgetExceededError)
_RATE_WINDOW = 10.0  # seconds of progress the reported rate averages over

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class UploadResult:
    """A finished upload."""

    url: str  # the upload's URL on the server
    size: int
    sha256: str  # lowercase hex, confirmed by the server when ``verified``
    verified: bool
    resumed_from: int  # the server's offset when this run began (0: from the start)
    bytes_sent: int  # body bytes this run handed to the network (re-sends included)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (camelCase keys are the JS shim's business)."""
        return {
            "url": self.url,
            "size": self.size,
            "sha256": self.sha256,
            "verified": self.verified,
            "resumed_from": self.resumed_from,
            "bytes_sent": self.bytes_sent,
        }


class _Gone(Exception):
    """The server no longer knows this upload (404/410)."""


class _Paused(Exception):
    """The request in flight was cancelled by ``pause()``."""


class _Retry(Exception):
    """A status worth retrying after a pause (5xx, 409, 429...)."""

    def __init__(self, response: Response, retry_after: float | None) -> None:
        super().__init__(response.status)
        self.response = response
        self.retry_after = retry_after


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """``Upload-Metadata``: ``key base64(value)`` pairs joined by commas."""
    parts = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not _METADATA_KEY.match(key):
            raise InvalidRequestError(
                f"metadata key {key!r} must be printable ASCII without spaces or commas",
                field="metadata",
            )
        encoded = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        parts.append(f"{key} {encoded}" if encoded else key)
    return ",".join(parts)


class _Rate:
    """Bytes per second over the last ``_RATE_WINDOW`` seconds of confirmed progress."""

    def __init__(self) -> None:
        self._points: deque[tuple[float, int]] = deque(maxlen=64)

    def add(self, now: float, sent: int) -> None:
        self._points.append((now, sent))
        while len(self._points) > 2 and now - self._points[1][0] >= _RATE_WINDOW:
            self._points.popleft()

    def reset(self) -> None:
        self._points.clear()

    def value(self) -> float:
        if len(self._points) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._points[0], self._points[-1]
        return round((b1 - b0) / (t1 - t0), 1) if t1 > t0 else 0.0


class Upload:
    """One upload: ``await`` it for an ``UploadResult``; ``pause()``, ``resume()``, ``abort()``."""

    def __init__(
        self,
        client: Client,
        data: Any,
        url: str,
        *,
        config: UploadConfig,
        on_progress: Progress | None = None,
        metadata: Mapping[str, str] | None = None,
        filename: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.source: UploadSource = source_of(data, filename)
        self.endpoint = client.build_request("POST", url).url  # checked now, not at the first send
        self.on_progress = on_progress
        self.metadata = dict(metadata or {})
        if self.source.name and "filename" not in self.metadata:
            self.metadata["filename"] = self.source.name
        if self.source.type and "filetype" not in self.metadata:
            self.metadata["filetype"] = self.source.type
        encode_metadata(self.metadata)  # a bad key fails here, before any hashing
        self.headers = dict(headers or {})
        self.url: str | None = None
        self.offset = 0
        self.sha256: str | None = None
        self.phase = "waiting"
        self.resumed_from: int | None = None
        self.bytes_sent = 0
        self._fp = ""
        self._created = 0.0
        self._rate = _Rate()
        self._rng = random.Random(client._rng.random()) if client._rng else random.Random()
        self._running = asyncio.Event()
        self._running.set()
        self._aborted = False
        self._inflight: asyncio.Task[Response] | None = None
        self._last: Response | None = None  # the last answer carrying Upload-Offset
        self._chunk_size = config.chunk_size
        self._task: asyncio.Task[UploadResult] | None = None
        self._records = self._make_records()

    def _make_records(self) -> UploadRecords:
        store = uploads_store(self.client.outbox.store) if self.config.max_remembered else None
        return UploadRecords(
            store, max_remembered=self.config.max_remembered, clock=self.client.clock
        )

    # -- control --------------------------------------------------------------

    def start(self) -> asyncio.Task[UploadResult]:
        """Start (once); returns the task. Awaiting the upload starts it too."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._main())
        return self._task

    def __await__(self) -> Generator[Any, None, UploadResult]:
        return self.start().__await__()

    def pause(self) -> None:
        """Stop sending: the chunk in flight is aborted; ``resume()`` goes on from the offset."""
        if self._running.is_set():
            self._running.clear()
            if self._inflight is not None:
                self._inflight.cancel()
            self._progress("paused")

    def resume(self) -> None:
        """Go on after ``pause()``, from the server's offset."""
        if not self._running.is_set():
            self._running.set()

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return not self._running.is_set()

    async def abort(self, *, terminate: bool = False) -> None:
        """Stop for good; the upload raises ``AbortedError``.

        It stays remembered (sending the same data later resumes it) unless
        ``terminate``: then the server is asked to delete it (tus termination)
        and it is forgotten.
        """
        self._aborted = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if terminate:
            if self.url is not None:
                with contextlib.suppress(ResilienceError):
                    await self._request("DELETE", self.url, retries=True)
            if self._fp:
                await self._records.forget(self._fp)

    def snapshot(self) -> dict[str, Any]:
        """``{phase, sent, total, rate, url, sha256}`` now."""
        return {
            "phase": self.phase,
            "sent": self.offset,
            "total": self.source.size,
            "rate": self._rate.value(),
            "url": self.url,
            "sha256": self.sha256,
        }

    def _progress(self, phase: str) -> None:
        self.phase = phase
        if self.on_progress is None:
            return
        try:
            self.on_progress(self.snapshot())
        except Exception:  # a listener's bug must not stop the upload
            log.exception("resilient_fetch: upload progress callback raised")

    # -- the protocol ------------------------------------------------------------

    async def _main(self) -> UploadResult:
        # A request paused in the network gate is the pipeline's business; the
        # phase tells the caller why nothing moves.
        unsubscribe = self.client.network.subscribe(self._on_network)
        try:
            if self._aborted:
                raise asyncio.CancelledError()
            return await self._run()
        except asyncio.CancelledError:
            if not self._aborted:
                raise
            self._progress("aborted")
            raise AbortedError("the upload was aborted") from None
        except ResilienceError:
            self._progress("failed")
            raise
        finally:
            unsubscribe()

    def _on_network(self, change: dict[str, Any]) -> None:
        if change.get("to") != "online" and self.phase in ("uploading", "retrying"):
            self._progress("offline")
        elif change.get("to") == "online" and self.phase == "offline" and not self.paused:
            self._progress("uploading")

    async def _run(self) -> UploadResult:
        cfg, size = self.config, self.source.size
        self._progress("hashing")
        self.sha256 = sha = (await self.source.sha256()).lower()
        self._fp = fingerprint(sha, size, self.endpoint)
        record = await self._records.find(self._fp)
        if record is not None and record.get("size") == size and record.get("url"):
            self.url = str(record["url"])
            self._created = float(record.get("created", 0.0))
        need_head, recreated, stalls, bad_checksums = self.url is not None, False, 0, 0
        while True:
            await self._wait_running()
            before = self.offset
            try:
                if self.url is None:
                    await self._create(sha)
                    need_head = False
                elif need_head:
                    self.offset = await self._head()
                    need_head = False
                if self.resumed_from is None:
                    self.resumed_from = self.offset
                    self._rate.add(self.client.clock.now(), self.offset)
                if self.offset >= size:
                    return await self._finish(sha)
                self._progress("uploading")
                end = min(size, self.offset + self._chunk_size)
                new_offset = await self._patch(self.offset, end)
                bad_checksums = 0 if new_offset is not None else bad_checksums + 1
                if new_offset is None:  # 460: the same chunk again, a bounded number of times
                    if bad_checksums > cfg.checksum_retries:
                        raise self._error(
                            ChecksumMismatchError,
                            f"the server refused the chunk at {self.offset} with 460 "
                            f"{bad_checksums} times "
                            f"(upload.checksum_retries={cfg.checksum_retries})",
                        )
                    continue
                self.offset = new_offset
                await self._remember()
            except _Paused:
                need_head = True
                continue
            except _Gone:
                await self._records.forget(self._fp)
                if recreated:
                    raise self._error(UploadError, "the server lost the upload twice") from None
                recreated, self.url, self.offset = True, None, 0
                continue
            except OfflineError as exc:
                await self._wait_online(exc)
                need_head = self.url is not None
                continue
            except (NetworkError, TimeoutError, _Retry, *_LOCAL_REFUSALS) as exc:
                if self.offset > before:
                    stalls = 0
                stalls += 1
                if stalls > cfg.max_stalls:
                    cause = exc if isinstance(exc, ResilienceError) else None
                    raise self._error(
                        UploadError,
                        f"{stalls - 1} failures in a row without progress "
                        f"(upload.max_stalls={cfg.max_stalls}): {_describe(exc)}",
                        response=exc.response if isinstance(exc, _Retry) else None,
                    ) from cause
                await self._backoff(stalls, exc)
                need_head = self.url is not None
                continue
            if self.offset > before:
                stalls = 0

    async def _create(self, sha: str) -> None:
        meta = encode_metadata({**self.metadata, "sha256": sha})
        headers = {"Upload-Length": str(self.source.size), "Upload-Metadata": meta}
        resp = await self._request("POST", self.endpoint, headers=headers, retries=True)
        if resp.status == 409:  # no offset to conflict with: the server refuses (too many)
            raise self._error(UploadError, "the server refused a new upload (409)", response=resp)
        if resp.status != 201:
            self._check_status(resp, "creating the upload")
        location = resp.headers.get("Location")
        if not location:
            raise self._error(UploadError, "the server created the upload but sent no Location")
        self.url = urljoin(self.endpoint, location)
        self.offset = 0
        self._last = resp  # an empty upload is complete (and verified) at creation
        self._created = self.client.clock.wall()
        await self._remember()

    async def _head(self) -> int:
        assert self.url is not None
        resp = await self._request(
            "HEAD", self.url, headers={"Cache-Control": "no-store"}, retries=True
        )
        if resp.status in (404, 410, 403):
            await self._check_failed(resp)
            raise _Gone()
        if not 200 <= resp.status < 300:
            self._check_status(resp, "asking for the offset")
        length = resp.headers.get("Upload-Length")
        if length is not None and length.strip() != str(self.source.size):
            raise _Gone()  # not our upload any more (a server reusing URLs): start over
        return self._offset_of(resp)

    async def _patch(self, start: int, end: int) -> int | None:
        """Send ``[start, end)``; the server's new offset, or None after a 460."""
        assert self.url is not None
        chunk: Chunk = await self.source.chunk(start, end)
        resp = await self._request(
            "PATCH",
            self.url,
            headers={
                "Upload-Offset": str(start),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha256 {chunk.checksum}",
            },
            body=chunk.body,
            raw=chunk.raw,
            sent=chunk.size,
        )
        if resp.status == 460:
            if end == self.source.size:  # the last chunk: maybe the whole file's hash
                await self._check_failed(resp)
            return None
        if resp.status in (404, 410):
            await self._check_failed(resp)
            raise _Gone()
        if resp.status == 413 and self._chunk_size > _MIN_CHUNK:
            # Over the server's request size limit: smaller chunks (a bounded number of halvings).
            self._chunk_size = max(_MIN_CHUNK, self._chunk_size // 2)
            return start
        if not 200 <= resp.status < 300:
            self._check_status(resp, f"sending bytes {start}-{end}")
        return self._offset_of(resp)

    async def _check_failed(self, resp: Response) -> None:
        """Raise ``HashMismatchError`` if the server says the file failed verification."""
        failed = resp.headers.get("Upload-State", "").strip().lower() == "failed"
        body = await _json_body(resp)
        theirs = body.get("sha256_received")
        if not failed and not isinstance(theirs, str):
            return
        await self._records.forget(self._fp)
        actual = theirs.lower() if isinstance(theirs, str) else ""
        raise self._error(
            HashMismatchError,
            f"the server's SHA-256 of the file is {actual or 'not ours'}, ours is {self.sha256}",
            expected=self.sha256 or "",
            actual=actual,
            response=resp,
        )

    async def _finish(self, sha: str) -> UploadResult:
        self._progress("verifying")
        last = self._last
        verified = (
            last is not None and last.headers.get("Upload-State", "").strip().lower() == "complete"
        )
        await self._records.forget(self._fp)
        self._progress("done")
        return UploadResult(
            url=self.url or "",
            size=self.source.size,
            sha256=sha,
            verified=verified,
            resumed_from=self.resumed_from or 0,
            bytes_sent=self.bytes_sent,
        )

    # -- plumbing ----------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        raw: Any = None,
        sent: int = 0,
        retries: bool = False,
    ) -> Response:
        """One tus request through the pipeline; ``pause()`` cancels it (``_Paused``)."""
        cfg = self.config
        merged = {**self.headers, **(headers or {}), "Tus-Resumable": TUS_VERSION}
        request = self.client.build_request(method, url, headers=merged, body=body)
        if raw is not None:
            object.__setattr__(request, "raw", raw)  # the page's own body (a Blob slice)
        options = RequestOptions(
            priority=cfg.priority,
            timeout=cfg.timeout,
            total_timeout=cfg.total_timeout,
            # A PATCH is never repeated blindly: after a failure we ask for the offset.
            max_retries=None if retries else 0,
            idempotency_key=None if method == "POST" else False,
        )
        self._inflight = task = asyncio.ensure_future(self.client.send(request, options))
        self.bytes_sent += sent
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our own task was cancelled: abort(), or the caller
            if not self._running.is_set():
                raise _Paused() from None
            raise
        finally:
            self._inflight = None

    def _offset_of(self, resp: Response) -> int:
        raw = resp.headers.get("Upload-Offset")
        try:
            offset = int(str(raw).strip())
        except ValueError:
            offset = -1
        if not 0 <= offset <= self.source.size:
            raise self._error(
                UploadError, f"the server sent no valid Upload-Offset ({raw!r})", response=resp
            )
        self._rate.add(self.client.clock.now(), offset)
        self._last = resp
        return offset

    def _check_status(self, resp: Response, doing: str) -> None:
        if resp.status in _RETRYABLE_STATUSES:
            raise _Retry(resp, _retry_after(resp))
        raise self._error(
            UploadError, f"the server answered {resp.status} when {doing}", response=resp
        )

    async def _remember(self) -> None:
        await self._records.save(
            self._fp,
            url=self.url,
            endpoint=self.endpoint,
            size=self.source.size,
            sha256=self.sha256,
            offset=self.offset,
            filename=self.source.name,
            created=self._created,
        )

    async def _wait_running(self) -> None:
        if not self._running.is_set():
            self._rate.reset()
            await self._running.wait()
            self._progress("uploading")

    async def _backoff(self, stalls: int, exc: BaseException) -> None:
        cfg = self.config
        full = min(cfg.retry_cap, cfg.retry_base * 2.0 ** min(stalls - 1, 60))
        delay = full / 2 + self._rng.uniform(0, full / 2)  # equal jitter: never a herd
        wait = exc.retry_after if isinstance(exc, _Retry) else getattr(exc, "retry_after", None)
        if isinstance(wait, int | float) and wait > 0:
            delay = max(delay, min(float(wait), cfg.retry_cap))
        self._progress("retrying")
        await self.client.clock.sleep(delay)

    async def _wait_online(self, exc: OfflineError) -> None:
        """Wait for the network monitor to say online (bounded by ``upload.max_offline``)."""
        monitor = self.client.network
        self._progress("offline")
        if monitor.state == "online":  # the monitor has not caught up yet: do not spin
            await self.client.clock.sleep(max(self.config.retry_base, 0.1))
            return
        changed = asyncio.Event()
        off = monitor.subscribe(lambda _: changed.set())
        limit = self.config.max_offline
        deadline = None if limit is None else self.client.clock.now() + limit
        try:
            while monitor.state != "online":
                left = None if deadline is None else deadline - self.client.clock.now()
                if left is not None and left <= 0:
                    raise self._error(
                        UploadError, f"offline for longer than upload.max_offline={limit} s"
                    ) from exc
                changed.clear()
                await _wait_event(changed, self.client.clock, left)
        finally:
            off()

    def _error(self, cls: type[UploadError], message: str, **kw: Any) -> UploadError:
        return cls(message, url=self.url, offset=self.offset, size=self.source.size, **kw)


async def _wait_event(event: asyncio.Event, clock: Any, timeout: float | None) -> None:
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(timeout)) if timeout is not None else None
    try:
        await asyncio.wait(
            [w for w in (waiter, sleeper) if w is not None], return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
        if sleeper is not None:
            sleeper.cancel()


async def _json_body(resp: Response) -> dict[str, Any]:
    """The response's JSON object body, or {} (not JSON, unreadable, not an object)."""
    try:
        data = json.loads(await resp.read() or b"null")
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(resp: Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Retry):
        return f"HTTP {exc.response.status}"
    return f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"


def upload_config(base: UploadConfig, overrides: Mapping[str, Any]) -> UploadConfig:
    """``base`` with per-call overrides (None means "keep"), validated as ``upload.<field>``."""
    from dataclasses import asdict

    from .config import build

    values = {**asdict(base), **{k: v for k, v in overrides.items() if v is not None}}
    return build(UploadConfig, values, "upload")
