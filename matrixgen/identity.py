"""Who a workbook was issued to, and the office's signature that proves it.

The identity travels in three places in each workbook (a hidden sheet, custom document
properties, visible cells on the Partnership sheet) so that a re-save by another app cannot lose
them all. The signature is an HMAC-SHA256 over the identity fields with the office's secret key:
a workbook whose partnership details were edited, or that another office signed, fails to verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

# Signed, in this order. Changing the list changes every signature: add a new FORMAT if it must.
FIELDS = (
    "rubric_id",
    "rubric_version",
    "rubric_hash",
    "partnership_id",
    "partnership_name",
    "region",
    "sector",
    "round",
    "generated_at",
)
FORMAT = "1"
SECRET_ENV = "MATRIXGEN_SECRET"
KEY_FILE = "secret.key"


@dataclass(frozen=True)
class Identity:
    rubric_id: str
    rubric_version: str
    rubric_hash: str
    partnership_id: str = ""
    partnership_name: str = ""
    region: str = ""
    sector: str = ""
    round: str = ""
    generated_at: str = ""
    signature: str = field(default="", compare=False)

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def generic(self) -> bool:
        """A blank not issued to any partnership: the respondent types the name."""
        return not self.partnership_id


class KeyError_(Exception):
    """The secret key file exists but cannot be used."""


def message(values: dict[str, str]) -> bytes:
    return json.dumps([[k, values.get(k, "")] for k in FIELDS], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(values: dict[str, str], key: bytes) -> str:
    return hmac.new(key, message(values), hashlib.sha256).hexdigest()


def verify(values: dict[str, str], signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(values, key), signature.strip().lower())


def load_key(data_dir: str | Path = "output") -> bytes:
    """The office's signing key: MATRIXGEN_SECRET, else ``<data_dir>/secret.key`` (made on first use).

    Keep the key file with the store backups: without it, workbooks already sent out can no
    longer be verified.
    """
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode("utf-8")
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        try:
            text = path.read_text(encoding="ascii").strip()
            key = bytes.fromhex(text)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise KeyError_(f"{path}: {exc}") from exc
        if len(key) < 16:
            raise KeyError_(f"{path}: the key is too short")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes racing to create the key must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(data_dir)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key
