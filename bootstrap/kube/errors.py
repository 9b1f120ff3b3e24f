"""What can go wrong talking to an API server, and how it is worded for the operator (pure).

Requests fail in two ways: the server answers with a non-2xx `Status` (`KubeApiError`), or no answer
comes at all (`TransportError`: refused, reset, TLS, timeout).  `is_retryable` decides which of them a
retry may mend; `describe` turns either into the one-line `ApplyError` (exit 5) the operator reads,
naming the object, what was being done and the API's reason/message.  Request bodies never appear in an
error; messages about objects holding secrets have their quoted values redacted and pass a scrubber.
"""

from __future__ import annotations

import email.utils
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

from bootstrap.errors import ApplyError
from bootstrap.model import ObjectRef

Scrub = Callable[[str], str]


def no_scrub(text: str) -> str:
    return text


class KubeApiError(Exception):
    """The API server answered with a non-2xx Status. Carries only the Status' reason and message."""

    def __init__(self, status: int, reason: str, message: str, *, causes: Sequence[Mapping[str, object]] = (),
                 retry_after: float | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = tuple(causes)
        self.retry_after = retry_after


class TransportError(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, timeout. The text is the cause, worded."""


_RETRYABLE_MESSAGES = re.compile(
    r"failed calling (admission )?webhook|conversion webhook for .* failed|no endpoints available for service"
    r"|etcdserver: (leader changed|request timed out|too many requests)|the object has been modified"
    r"|please try again|connection refused|connection reset",
    re.IGNORECASE,
)
# Server-side apply answers 500 when a body does not fit the schema (an unknown field, a wrong type):
# sending it again cannot help.
_FINAL_MESSAGES = re.compile(r"failed to create typed (patch|live) object|field not declared in schema", re.IGNORECASE)
_INVALID_VALUE = re.compile(r'Invalid value: ("(?:[^"\\]|\\.)*"|\S+)')


def is_retryable(err: BaseException) -> bool:
    """Whether a failed request may succeed if sent again: throttling, server-side or transient errors.

    4xx validation errors (400, 403, 404, 409 conflicts of ownership, 422) are final, except the
    webhook/etcd messages an API server wraps in them while it or its webhooks start up. So is the 500
    server-side apply answers for a body that does not fit the schema.
    """
    if isinstance(err, TransportError):
        return True
    if not isinstance(err, KubeApiError):
        return False
    if err.status == 429 or err.status >= 500:
        return not _FINAL_MESSAGES.search(err.message)
    return bool(_RETRYABLE_MESSAGES.search(err.message))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def immutable_field(err: KubeApiError) -> str | None:
    """The field an `Invalid` error says is immutable ("" when immutable but unnamed), else None."""
    if err.status not in (409, 422):
        return None
    for cause in err.causes:
        if "immutable" in str(cause.get("message", "")):
            return str(cause.get("field") or "")
    if "immutable" in err.message:
        match = re.search(r"([\w.\[\]-]+): (?:Invalid value: .*?: )?field is immutable", err.message)
        return match.group(1) if match else ""
    return None


def redact_values(message: str) -> str:
    """Drop the values an API message quotes ("Invalid value: ...") — for objects holding secrets."""
    return _INVALID_VALUE.sub("Invalid value: <redacted>", message)


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transport_cause(exc: BaseException) -> str:
    """The cause of a failed connection in a few words: "connection refused", "timed out", "TLS error (…)"."""
    # An SSLError's `reason` is only its code (CERTIFICATE_VERIFY_FAILED); its text says what failed.
    text = str(exc if isinstance(exc, ssl.SSLError) else getattr(exc, "reason", None) or exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    if match:
        return match.group(1).strip().lower()
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in type(exc).__name__.lower():
        return "timed out"
    if "connection refused" in lowered:
        return "connection refused"
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS error (" + one_line(text, 160) + ")"
    return one_line(type(exc).__name__ + (": " + text if text else ""), 160)


def describe(where: ObjectRef | str, exc: KubeApiError | TransportError, *, host: str, doing: str = "",
             sensitive: bool = False, scrub: Scrub = no_scrub) -> ApplyError:
    """The operator's one line for a failed request about `where` (an object, or "" for the server)."""
    prefix = f"{where}: " if where else ""
    doing = f"{doing} " if doing else ""
    if isinstance(exc, TransportError):
        return ApplyError(f"{prefix}{doing}cannot reach the API server at {host}: {exc}")
    message = redact_values(exc.message) if sensitive else exc.message
    message = one_line(scrub(message))
    return ApplyError(f"{prefix}{doing}rejected by the API server ({exc.status} {exc.reason}): {message}")
