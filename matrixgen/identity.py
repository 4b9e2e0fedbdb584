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

from .errors import Problem, problem

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


MIN_KEY_BYTES = 32
MAKE_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'


class KeyError_(Exception):
    """The secret key cannot be used; ``problem`` says where and how to make a good one."""

    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


def message(values: dict[str, str]) -> bytes:
    return json.dumps([[k, values.get(k, "")] for k in FIELDS], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(values: dict[str, str], key: bytes) -> str:
    return hmac.new(key, message(values), hashlib.sha256).hexdigest()


def verify(values: dict[str, str], signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(values, key), signature.strip().lower())


def load_key(data_dir: str | Path = "output") -> bytes:
    """The office's signing key: MATRIXGEN_SECRET, else ``<data_dir>/secret.key`` (made on first use).

    Either source must hold at least ``MIN_KEY_BYTES`` bytes of key material: an HMAC key is only
    as hard to guess as it is long. Keep the key file with the store backups: without it,
    workbooks already sent out can no longer be verified.
    """
    env = os.environ.get(SECRET_ENV)
    if env:
        return _long_enough(env.encode("utf-8"), SECRET_ENV)
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        try:
            text = path.read_text(encoding="ascii").strip()
            key = bytes.fromhex(text)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise KeyError_(problem("MG-GEN-002", str(path), reason=reason)) from exc
        return _long_enough(key, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(MIN_KEY_BYTES)
    # O_EXCL: two processes racing to create the key must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(data_dir)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


def _long_enough(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise KeyError_(problem("MG-GEN-003", where, size=len(key), minimum=MIN_KEY_BYTES, make=MAKE_KEY))
    return key
