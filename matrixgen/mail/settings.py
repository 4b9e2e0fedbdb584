"""Mail settings: from the environment, then the ``[mail]`` table of matrixgen.toml; the SMTP
password only ever from the environment."""

from __future__ import annotations

import os
import ssl
import tomllib
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Mapping

from ..errors import Problem, has_errors, problem
from ..roster import EMAIL_RE
from .errors import reason as _reason

SETTINGS_FILE = "matrixgen.toml"

# Setting name -> environment variable. The same names are the keys of the [mail] table of
# matrixgen.toml; the environment wins over the file.
ENV = {
    "smtp_host": "MATRIXGEN_SMTP_HOST",
    "smtp_port": "MATRIXGEN_SMTP_PORT",
    "smtp_security": "MATRIXGEN_SMTP_SECURITY",
    "smtp_user": "MATRIXGEN_SMTP_USER",
    "smtp_ca_file": "MATRIXGEN_SMTP_CA_FILE",
    "smtp_throttle": "MATRIXGEN_SMTP_THROTTLE",
    "mail_from": "MATRIXGEN_MAIL_FROM",
    "mail_reply_to": "MATRIXGEN_MAIL_REPLY_TO",
    "mail_contact": "MATRIXGEN_MAIL_CONTACT",
    "mail_instructions": "MATRIXGEN_MAIL_INSTRUCTIONS",
    "mail_templates": "MATRIXGEN_MAIL_TEMPLATES",
}
PASSWORD_ENV = "MATRIXGEN_SMTP_PASSWORD"
SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class Settings:
    mail_from: str
    reply_to: str = ""
    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None  # the server's CA, for an office server with its own certificates
    throttle: float = 0.0  # messages per minute; 0 = as fast as the server takes them
    contact: str = ""  # "Questions: ..." line in every message
    instructions: str = ""  # replaces the default how-to paragraph of the blanks message
    templates: Path | None = None  # the office's template folder, looked up before the defaults
    timeout: float = 30.0

    @property
    def sender(self) -> str:
        """The bare address for the SMTP envelope."""
        return parseaddr(self.mail_from)[1]

    @property
    def sender_name(self) -> str:
        name, addr = parseaddr(self.mail_from)
        return name or addr


@dataclass(frozen=True)
class SettingsResult:
    settings: Settings | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return self.settings is not None and not has_errors(self.problems)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  *, smtp: bool = True) -> SettingsResult:
    """Settings from the environment, then the ``[mail]`` table of ``path`` (default: ./matrixgen.toml
    if it exists). ``smtp=False`` (a dry run) needs no server settings.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    file = Path(path) if path is not None else Path(SETTINGS_FILE)
    base = file.parent
    values, where = _gather(file, path is not None, env, "mail", ENV, problems, ("MG-SEND-005", "MG-SEND-007"))

    def located(key: str) -> str:
        return where.get(key, ENV[key])

    def required(key: str) -> str:
        value = values.get(key, "")
        if not value:
            problems.append(problem("MG-SEND-001", "settings", key=ENV[key], file_key=key))
        return value

    def address(key: str) -> None:
        value = values.get(key, "")
        if value and not EMAIL_RE.match(parseaddr(value)[1]):
            problems.append(problem("MG-SEND-004", located(key), value=value))

    mail_from = required("mail_from")
    address("mail_from")
    address("mail_reply_to")
    security = values.get("smtp_security", "starttls").lower()
    if security not in SECURITY_PORTS:
        problems.append(problem("MG-SEND-002", located("smtp_security"), value=values["smtp_security"]))
        security = "starttls"
    port = SECURITY_PORTS[security]
    if values.get("smtp_port"):
        given = _port_value(values["smtp_port"])
        if given is None:
            problems.append(problem("MG-SEND-003", located("smtp_port"), value=values["smtp_port"]))
        port = given or port
    throttle = 0.0
    if values.get("smtp_throttle"):
        throttle = _throttle_value(values["smtp_throttle"])
        if throttle is None:
            problems.append(problem("MG-SEND-009", located("smtp_throttle"), value=values["smtp_throttle"]))
            throttle = 0.0
    user = values.get("smtp_user", "")
    password = env.get(PASSWORD_ENV, "")
    host = required("smtp_host") if smtp else values.get("smtp_host", "")
    if smtp and user and not password:
        problems.append(problem("MG-SEND-006", PASSWORD_ENV))
    if smtp and user and security == "none":
        problems.append(problem("MG-SEND-010", located("smtp_security")))

    templates = _path_value(values, where, "mail_templates", ENV, base)
    ca_file = _path_value(values, where, "smtp_ca_file", ENV, base)
    if templates is not None and not templates.is_dir():
        problems.append(problem("MG-SEND-011", located("mail_templates"), path=templates))
    if smtp and ca_file is not None:
        problems.extend(_ca_problems(ca_file, "MG-SEND-012", located("smtp_ca_file")))
    if has_errors(problems):
        return SettingsResult(None, tuple(problems))
    settings = Settings(
        mail_from=mail_from, reply_to=values.get("mail_reply_to", ""), host=host, port=port, security=security,
        user=user, password=password, ca_file=ca_file, throttle=throttle,
        contact=values.get("mail_contact", ""), instructions=values.get("mail_instructions", ""),
        templates=templates,
    )
    return SettingsResult(settings, tuple(problems))


def _gather(file: Path, given: bool, env: Mapping[str, str], name: str, names: Mapping[str, str],
            problems: list[Problem], codes: tuple[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each setting's value and where it came from: the ``[name]`` table of ``file`` (when ``given``
    or present), then the environment, which wins. A password in the file, or an unknown key, is a
    problem (``codes``: the password's, the unknown key's)."""
    values: dict[str, str] = {}
    where: dict[str, str] = {}
    if given or file.exists():
        for key, value in _read_settings_file(file, problems, name).items():
            if "password" in key:
                problems.append(problem(codes[0], f"{file.name}: {name}.{key}", key=key))
            elif key not in names:
                problems.append(problem(codes[1], f"{file.name}: {name}.{key}", key=key, known=", ".join(names)))
            else:
                values[key], where[key] = str(value).strip(), f"{file.name}: {name}.{key}"
    for key, var in names.items():
        if env.get(var, "").strip():
            values[key], where[key] = env[var].strip(), var
    return values, where


def _read_settings_file(file: Path, problems: list[Problem], name: str = "mail") -> dict[str, object]:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(problem("MG-SEND-008", file.name, reason=exc.strerror or str(exc)))
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(problem("MG-SEND-008", file.name, reason=str(exc)))
        return {}
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.append(problem("MG-SEND-008", f"{file.name}: {name}", reason=f"'{name}' must be a table ([{name}])"))
        return {}
    return table


def _port_value(text: str) -> int | None:
    """A TCP port number, or None for anything else."""
    try:
        port = int(text)
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _path_value(values: Mapping[str, str], where: Mapping[str, str], key: str, names: Mapping[str, str],
                base: Path) -> Path | None:
    """A path setting: relative to the settings file when it came from there, else as given."""
    if not values.get(key):
        return None
    path = Path(values[key]).expanduser()
    return path if path.is_absolute() or where[key] in names.values() else base / path


def _ca_problems(path: Path, code: str, where: str) -> list[Problem]:
    """A CA file that Python's ssl cannot load, as a problem at ``where``."""
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        return [problem(code, where, path=path, reason=_reason(exc))]
    return []


def _throttle_value(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


# --- the office mailbox, for matrixgen collect ------------------------------------------------------

# Setting name -> environment variable; the names are also the keys of the [imap] table.
IMAP_ENV = {
    "host": "MATRIXGEN_IMAP_HOST",
    "port": "MATRIXGEN_IMAP_PORT",
    "security": "MATRIXGEN_IMAP_SECURITY",
    "user": "MATRIXGEN_IMAP_USER",
    "folder": "MATRIXGEN_IMAP_FOLDER",
    "done_folder": "MATRIXGEN_IMAP_DONE_FOLDER",
    "ca_file": "MATRIXGEN_IMAP_CA_FILE",
}
IMAP_PASSWORD_ENV = "MATRIXGEN_IMAP_PASSWORD"
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    user: str
    password: str = field(default="", repr=False)
    port: int = 993
    security: str = "ssl"
    folder: str = "INBOX"
    done_folder: str = "matrixgen/processed"  # '/' separates levels, whatever the server uses
    ca_file: Path | None = None
    timeout: float = 60.0

    @property
    def mailbox(self) -> str:
        """Where messages are read from, as recorded with each one (never the password)."""
        return f"imap://{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass(frozen=True)
class ImapSettingsResult:
    settings: ImapSettings | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return self.settings is not None and not has_errors(self.problems)


def load_imap_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> ImapSettingsResult:
    """The mailbox's settings from the environment, then the ``[imap]`` table of ``path`` (default
    ./matrixgen.toml if it exists); the password only from the environment."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    file = Path(path) if path is not None else Path(SETTINGS_FILE)
    values, where = _gather(file, path is not None, env, "imap", IMAP_ENV, problems, ("MG-MAIL-004", "MG-MAIL-005"))

    def located(key: str) -> str:
        return where.get(key, IMAP_ENV[key])

    for key in ("host", "user"):
        if not values.get(key):
            problems.append(problem("MG-MAIL-001", "settings", key=IMAP_ENV[key], file_key=key))
    password = env.get(IMAP_PASSWORD_ENV, "")
    if not password:
        problems.append(problem("MG-MAIL-006", IMAP_PASSWORD_ENV))
    security = values.get("security", "ssl").lower()
    if security not in IMAP_PORTS:
        problems.append(problem("MG-MAIL-002", located("security"), value=values["security"]))
        security = "ssl"
    elif security == "none":
        problems.append(problem("MG-MAIL-007", located("security")))
    port = IMAP_PORTS[security]
    if values.get("port"):
        given = _port_value(values["port"])
        if given is None:
            problems.append(problem("MG-MAIL-003", located("port"), value=values["port"]))
        port = given or port
    folders = {}
    for key, default in (("folder", "INBOX"), ("done_folder", "matrixgen/processed")):
        name = values.get(key, default)
        parts = name.split("/")
        same = key == "done_folder" and name == folders.get("folder")  # moving a message where it is loops
        if same or any(not p.strip() or any(ord(c) < 32 for c in p) for p in parts):
            problems.append(problem("MG-MAIL-010", located(key), value=name))
        folders[key] = name
    ca_file = _path_value(values, where, "ca_file", IMAP_ENV, file.parent)
    if ca_file is not None:
        problems.extend(_ca_problems(ca_file, "MG-MAIL-008", located("ca_file")))
    if has_errors(problems):
        return ImapSettingsResult(None, tuple(problems))
    return ImapSettingsResult(ImapSettings(
        host=values["host"], user=values["user"], password=password, port=port, security=security,
        folder=folders["folder"], done_folder=folders["done_folder"], ca_file=ca_file), tuple(problems))
