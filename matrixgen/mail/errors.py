"""How a failure is put in words for a problem's message (server replies, OS errors)."""

from __future__ import annotations

import re
import smtplib


def text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {text(exc.smtp_error)}".strip()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    found = str(exc).strip()
    return re.sub(r"\s+", " ", found) or type(exc).__name__
