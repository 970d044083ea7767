"""The API's refusals as one typed exception: code, reason, hint (what to do next)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

ERROR_CODES = (
    "invalid_request", "invalid_json", "unauthenticated", "invalid_credentials", "wrong_principal",
    "mfa_not_enrolled", "mfa_invalid", "mfa_code_used", "password_invalid", "not_found",
    "method_not_allowed", "invalid_state", "username_taken", "payload_too_large", "unsupported_media_type",
    "idempotency_key_reused", "simulation_failed", "rate_limited", "mfa_locked", "unavailable", "internal",
)


class CountersignError(Exception):
    """A refusal from the Countersign API (or no answer at all: status 0, code "unavailable")."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        reason: str | None = None,
        hint: str | None = None,
        details: list[dict[str, Any]] | None = None,
        revert_reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
        self.hint = hint
        self.details = details
        self.revert_reason = revert_reason
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """The plain shape a tool result can carry."""
        out: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        for key in ("reason", "hint", "details", "revert_reason"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.retry_after is not None:
            out["retry_after_seconds"] = self.retry_after
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.hint})" if self.hint else "")


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(status: int, body: Any, retry_after: str | None) -> CountersignError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if error.get("code") in ERROR_CODES else ("internal" if status >= 500 else "invalid_request")
    return CountersignError(
        status,
        code,
        error.get("message") or f"the API answered {status}",
        reason=error.get("reason"),
        hint=error.get("hint"),
        details=error.get("details"),
        revert_reason=error.get("revert_reason"),
        retry_after=retry_after_seconds(retry_after),
    )
