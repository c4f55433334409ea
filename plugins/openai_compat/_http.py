"""JSON over HTTP to an OpenAI-compatible server: timeouts, bounded retries, clear errors.

Standard library only (``urllib``): one request is one JSON document, so a
client library would add a dependency without adding a capability.

Retried: connection errors (refused, reset, closed mid-response), timeouts,
HTTP 408, 429 and 5xx, with exponential backoff and jitter drawn from a seeded
``random.Random``; a ``Retry-After`` header (seconds or an HTTP date) is
honoured, up to :data:`MAX_RETRY_AFTER` seconds. Once a request failed for good
because the server could not be reached, later requests are tried once until
one succeeds (a dead server costs one attempt per sample). Not retried: any other 4xx
(a bad request or a wrong URL does not get better by asking again), nor a
2xx whose body is not JSON, nor a redirect.

Where the key goes: only to ``base_url``. Redirects (30x) are never followed (urllib
would forward ``Authorization`` to whatever host ``Location`` names, and turn a POST
into a GET on 301-303); they fail at once naming the ``Location``, so the user can set
the final URL. The ``*_proxy`` environment variables are ignored unless the endpoint
is built with ``env_proxy=True`` (option ``env_proxy=true``): a proxy sees the key and
the images of a plain-http endpoint.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping, Optional

__all__ = ["EndpointError", "Endpoint", "MAX_RETRY_AFTER", "excerpt"]

MAX_RETRY_AFTER = 120.0
"""Longest wait (seconds) granted to a server's ``Retry-After``; beyond it the run would stall."""

RETRY_STATUSES = frozenset({408, 429})
EXCERPT_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


class EndpointError(RuntimeError):
    """A request to the server failed for good.

    Attributes:
        url: The full URL requested (never with credentials).
        status: The HTTP status, or ``None`` when no response came (connection, timeout).
        body: An excerpt of the response body (or the connection error).
        attempts: How many times the request was sent.
    """

    def __init__(self, message: str, *, url: str, status: Optional[int], body: str, attempts: int) -> None:
        super().__init__(message)
        self.url, self.status, self.body, self.attempts = url, status, body, attempts


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect: urllib then raises the 30x as an ``HTTPError``."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class _Retryable(Exception):
    def __init__(self, status: Optional[int], body: str, retry_after: Optional[float],
                 unreachable: bool = False) -> None:
        super().__init__(body)
        self.status, self.body, self.retry_after = status, body, retry_after
        self.unreachable = unreachable


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Endpoint:
    """A base URL (e.g. ``http://host:8000/v1``) answering JSON requests.

    Args:
        base_url: The server's base URL, without credentials and without a trailing slash.
        api_key: Sent as ``Authorization: Bearer``; never stored anywhere else.
        timeout: Seconds to wait for the connection and for each read from the socket.
        retries: Further attempts after the first, for retryable failures.
        backoff: First backoff in seconds; it doubles per attempt, up to ``max_backoff``,
            and a jitter draws the wait uniformly from its upper half.
        max_backoff: Cap of one backoff, in seconds.
        seed: Seed of the jitter's RNG.
        sleep: The sleep function (tests may count sleeps).
        env_proxy: Honour the ``http_proxy`` / ``https_proxy`` / ``no_proxy`` environment
            variables (default: connect directly, so no proxy sees the key).
    """

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 60.0,
                 retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0, seed: int = 0,
                 sleep: Callable[[float], None] = time.sleep, env_proxy: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.timeout, self.retries = timeout, retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._sleep = sleep
        self._unreachable = False
        handlers: list[Any] = [_NoRedirect()]
        if not env_proxy:
            handlers.append(urllib.request.ProxyHandler({}))  # replaces the default one reading the environment
        self._opener = urllib.request.build_opener(*handlers)

    def _wait(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        cap = min(self.max_backoff, self.backoff * 2 ** attempt)
        with self._rng_lock:
            return cap * (0.5 + 0.5 * self._rng.random())

    def request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None,
                retries: Optional[int] = None) -> Any:
        """Send ``body`` as JSON to ``base_url + path``; the decoded JSON answer.

        Args:
            method: ``"GET"`` or ``"POST"``.
            path: Path under the base URL, e.g. ``"/chat/completions"``.
            body: The JSON body (``None`` for a GET).
            retries: Overrides the endpoint's retries for this request.

        Raises:
            EndpointError: Naming the URL, the HTTP status (or the connection error)
                and an excerpt of the body, after the last attempt.
        """
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        allowed = self.retries if retries is None else retries
        skipped = self._unreachable and allowed > 0
        if skipped:  # a dead server is not asked five times per sample
            allowed = 0
        attempt = 0
        while True:
            try:
                answer = self._once(method, url, data)
                self._unreachable = False
                return answer
            except _Retryable as exc:
                if attempt >= allowed:
                    what = f"HTTP {exc.status}" if exc.status is not None else "no response"
                    self._unreachable = self._unreachable or exc.unreachable
                    if skipped:
                        what += " (not retried: the server was unreachable on an earlier request)"
                    raise EndpointError(
                        f"{method} {url} failed after {attempt + 1} attempt(s): {what}: {exc.body}",
                        url=url, status=exc.status, body=exc.body, attempts=attempt + 1) from None
                self._sleep(self._wait(attempt, exc.retry_after))
                attempt += 1
            except EndpointError as exc:
                exc.attempts = attempt + 1
                raise

    def _once(self, method: str, url: str, data: Optional[bytes]) -> Any:
        req = urllib.request.Request(url, data=data, headers=self._headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                text = excerpt(exc.read().decode("utf-8", "replace"))
            except (OSError, http.client.HTTPException):
                text = ""
            status = exc.code
            if 300 <= status <= 399:
                location = exc.headers.get("Location") or "(no Location header)"
                raise EndpointError(
                    f"{method} {url} -> HTTP {status} redirect to {location}; not followed (it would send the "
                    "API key there); set url to the address the server answers at",
                    url=url, status=status, body=text, attempts=1) from None
            if status in RETRY_STATUSES or 500 <= status <= 599:
                raise _Retryable(status, text, _retry_after(exc.headers.get("Retry-After"))) from None
            raise EndpointError(f"{method} {url} -> HTTP {status}: {text or exc.reason}",
                                url=url, status=status, body=text, attempts=1) from None
        except urllib.error.URLError as exc:
            raise _Retryable(None, f"cannot connect ({exc.reason})", None, unreachable=True) from None
        except TimeoutError:
            raise _Retryable(None, f"timed out after {self.timeout:g} s without data", None) from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise _Retryable(None, f"connection broken ({type(exc).__name__}: {exc})", None) from None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            text = excerpt(raw.decode("utf-8", "replace"))
            raise EndpointError(f"{method} {url} answered with a body that is not JSON: {text}",
                                url=url, status=200, body=text, attempts=1) from None
