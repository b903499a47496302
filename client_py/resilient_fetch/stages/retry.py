"""Retry stage: attempts, backoff with jitter, the server's Retry-After, the retry budget.

Backoff sleeps hold no breaker permit, rate-limit admission or queue slot:
those are taken per attempt by the stages below. A retry is made only when
all hold: the method may be repeated (idempotent, or POST/PATCH with an
``Idempotency-Key``), the failure is retryable, attempts remain, the wait fits
before the deadline, and the retry budget has a token (taken last, so a retry
refused for any other reason costs no token).
"""

from __future__ import annotations

from typing import Any

from .._clock import Clock
from .._errors import RateLimitedError, ResilienceError
from .._events import EventEmitter
from .._models import Response
from ..policies.budget import RetryBudget
from ..policies.limiter import server_wait
from ..policies.retry import RetryPolicy
from .base import Call, Next


class RetryStage:
    """Runs the rest of the pipeline once per attempt until success or a final failure."""

    name = "retry"

    def __init__(
        self,
        policy: RetryPolicy,
        budget: RetryBudget,
        clock: Clock,
        events: EventEmitter,
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.clock = clock
        self.events = events

    async def __call__(self, call: Call, next: Next) -> Response:
        request = call.request
        max_retries = call.options.max_retries
        if max_retries is None:
            max_retries = self.policy.max_retries
        method_ok = self.policy.is_retryable_method(request.method, request.headers)
        self.budget.record_request()
        previous: float | None = None
        while True:
            call.attempt += 1
            response: Response | None = None
            error: ResilienceError | None = None
            retry_after: float | None = None
            try:
                response = await next(call)
            except ResilienceError as exc:
                error = exc
                # A local rate-limit refusal is final: "wait" mode already waited as
                # long as the deadline allows, and "reject" mode asked for no wait.
                local_limit = isinstance(exc, RateLimitedError) and exc.response is None
                retryable = not local_limit and self.policy.should_retry_error(exc)
            else:
                retryable = self.policy.should_retry_status(response.status)
                if retryable:
                    retry_after = server_wait(response.headers, response.status, self.clock.wall())
            if not retryable or not method_ok or call.attempt > max_retries:
                return _finish(response, error)
            delay = self.policy.delay_for(
                call.attempt, previous, retry_after, request=request, response=response
            )
            if call.deadline is not None and self.clock.now() + delay >= call.deadline:
                self._emit(call, delay, error, response, refused="deadline")
                return _finish(response, error)
            if not self.budget.try_withdraw():
                self._emit(call, None, error, response, refused="budget")
                return _finish(response, error)
            self._emit(call, delay, error, response)
            try:
                await self.clock.sleep(delay)
            except BaseException:
                self.budget.refund()  # cancelled while backing off: the retry was never made
                raise
            previous = delay

    def _emit(
        self,
        call: Call,
        delay: float | None,
        error: ResilienceError | None,
        response: Response | None,
        refused: str | None = None,
    ) -> None:
        if not self.events.listening("retry"):
            return
        payload: dict[str, Any] = {
            "method": call.request.method,
            "url": call.request.url,
            "attempt": call.attempt,
            "delay": delay,
            "reason": error.code
            if error is not None
            else f"HTTP_{response.status if response else 0}",
        }
        if refused:
            payload["refused"] = refused
        self.events.emit("retry", payload)

    def snapshot(self) -> dict[str, Any]:
        """``budget``: the retry budget's balance and window."""
        return {"budget": self.budget.snapshot()}


def _finish(response: Response | None, error: ResilienceError | None) -> Response:
    if error is not None:
        raise error
    assert response is not None
    return response
