"""Rate limiter stage: one admission per attempt, and the server's signals afterwards."""

from __future__ import annotations

from typing import Any

from .._models import Response
from ..policies.limiter import RateLimiter
from .base import Call, Next


class LimiterStage:
    """Waits for (or is refused) an admission, then feeds the response's rate-limit headers."""

    name = "limiter"

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def __call__(self, call: Call, next: Next) -> Response:
        url = call.request.url
        await self.limiter.acquire(url, deadline=call.deadline, mode=call.options.rate_limit_mode)
        response = await next(call)
        self.limiter.observe(url, response.status, response.headers)
        return response

    def snapshot(self) -> dict[str, Any]:
        """``limiter``: per key, the window or bucket, cooldown and waiters."""
        return {"limiter": self.limiter.snapshot()}
