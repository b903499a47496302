"""Conversion layer for the JS shim: plain data in, plain data out, no policy.

The shim normalises ``fetch(input, init)`` with the browser's own ``Request``
and calls ``JsClient.fetch(url, method, headers, body)``. Results and errors
come back as dicts, which the shim turns into a ``Response`` or a rejected
``Error`` with a ``code``. Nothing here imports ``js``: JS values arrive as
proxies that are converted by duck typing (``to_py`` / ``to_bytes``).
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import ResilienceError
from ._models import Response
from .client import Client

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def to_snake(name: str) -> str:
    """``baseUrl`` -> ``base_url``."""
    return _CAMEL.sub("_", name).lower()


def to_py(value: Any) -> Any:
    """Convert a JS proxy (or plain value) to Python data."""
    if hasattr(value, "to_py"):
        return value.to_py()
    return value


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if hasattr(body, "to_bytes"):
        return bytes(body.to_bytes())
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


def _is_js_null(value: Any) -> bool:
    return value is None or type(value).__name__ in {"JsNull", "JsUndefined"}


def options_from_js(options: Any) -> dict[str, Any]:
    """camelCase JS options object -> snake_case keyword arguments."""
    raw = to_py(options)
    if _is_js_null(raw):
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f"createClient options must be an object, got {type(raw).__name__}")
    return {to_snake(k): v for k, v in raw.items() if not _is_js_null(v)}


def response_to_js(response: Response) -> dict[str, Any]:
    """A response as plain data for ``new Response(...)`` in the shim."""
    return {
        "ok": True,
        "status": response.status,
        "statusText": response.reason,
        "headers": [list(p) for p in response.headers.pairs()],
        "body": response.content,
        "url": response.url,
    }


def error_to_js(exc: BaseException) -> dict[str, Any]:
    """An exception as plain data for a rejected ``Error`` with a ``code``."""
    if isinstance(exc, ResilienceError):
        info = exc.to_dict()
    else:
        info = {"code": "INTERNAL", "name": type(exc).__name__, "message": str(exc)}
    return {"ok": False, "error": info}


class JsClient:
    """What the shim holds: a ``Client`` behind a fetch-shaped, plain-data API."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def fetch(self, url: str, method: str, headers: Any, body: Any) -> dict[str, Any]:
        """Run one fetch; never raises, errors come back as ``{"ok": False, ...}``."""
        try:
            pairs = [(str(k), str(v)) for k, v in to_py(headers) or []]
            request = self.client.build_request(
                str(method),
                str(url),
                headers=pairs,
                body=_body_bytes(None if _is_js_null(body) else body),
            )
            return response_to_js(await self.client.send(request))
        except Exception as exc:  # every failure must reach JS as data, never a PythonError
            return error_to_js(exc)

    async def close(self) -> None:
        """Close the underlying client."""
        await self.client.close()


def create_client(options: Any = None) -> JsClient:
    """Build a ``JsClient`` from a camelCase JS options object."""
    kwargs = options_from_js(options)
    return JsClient(Client(**kwargs))
