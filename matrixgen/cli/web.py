"""`matrixgen serve` and `matrixgen user add|list|remove`: the staff web app and its accounts."""

from __future__ import annotations

import getpass
import ipaddress
import sys
from pathlib import Path

import click

from ..files import data_dir
from .common import (
    CONTEXT, db_option, format_table, load_key_or_exit, load_rubric_or_exit, main, open_store_or_exit, rubric_option,
)

WEB_EXTRA = "the web app needs the [web] extra: pip install 'matrixgen[web]'"


def _accounts(store):
    try:
        from ..web.accounts import Accounts
    except ImportError:
        click.echo(f"error: {WEB_EXTRA}", err=True)
        raise SystemExit(1)
    return Accounts(store.engine)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat it as the network


@main.command(context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs a user first, and an HTTPS proxy in front.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@db_option
@rubric_option
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Settings file with a [mail] table, for sending (default: ./matrixgen.toml when present).")
@click.option("--secure-cookies", is_flag=True,
              help="Send the session cookie over HTTPS only (behind the office's HTTPS proxy).")
def serve(host, port, db, rubric_path, settings_path, secure_cookies) -> None:
    """Serve the staff web app: rounds, returns, the review queue and reports in the browser.

    Every page but sign-in needs a user (`matrixgen user add EMAIL`). It listens on 127.0.0.1
    unless told otherwise; another address is refused while no user exists."""
    try:
        import uvicorn

        from ..web import create_app
    except ImportError:
        click.echo(f"error: {WEB_EXTRA}", err=True)
        raise SystemExit(1)
    rubric = load_rubric_or_exit(rubric_path)
    key = load_key_or_exit()
    store = open_store_or_exit(db, create=True)
    users = _accounts(store).count()
    if not is_loopback(host):
        if not users:
            click.echo(f"error: refusing to listen on {host} while no user exists: anyone who reaches it could "
                       "not sign in, and the first to add one would own it. Add one with `matrixgen user add EMAIL`, "
                       "or serve on 127.0.0.1.", err=True)
            raise SystemExit(1)
        click.echo(f"warning: {host} is not this machine only, and this server speaks plain HTTP: put it behind "
                   "the office's HTTPS proxy (and use --secure-cookies) before anyone signs in over the network.",
                   err=True)
    if not users:
        click.echo("No users yet: add one with `matrixgen user add EMAIL` to sign in.", err=True)
    app = create_app(store, rubric=rubric, key=key, data_dir=data_dir(), secure_cookies=secure_cookies,
                     settings_path=settings_path)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"matrixgen serving {store.shown.removeprefix('sqlite:///')} at http://{shown}:{port}/ "
               "(Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, access_log=False)


@main.group("user", context_settings=CONTEXT)
def user_group() -> None:
    """Add, list or remove the people who may sign in to `matrixgen serve`."""


@user_group.command("add", context_settings=CONTEXT)
@click.argument("email")
@click.option("--role", type=click.Choice(["staff", "viewer"]), default="staff", show_default=True,
              help="staff: everything; viewer: looks, changes nothing, no original files.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
@db_option
def user_add(email, role, password_stdin, db) -> None:
    """Add a user; asks for the password twice (at least 12 characters)."""
    store = open_store_or_exit(db, create=True)
    accounts = _accounts(store)
    from ..web.accounts import AccountError
    from ..web.audit import record

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        added = accounts.add(email, password, role)
    except AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1)
    record(store.engine, _operator(), "user add", added.email, f"role {added.role}")
    click.echo(f"Added {added.role} user {added.email}.")


@user_group.command("list", context_settings=CONTEXT)
@db_option
def user_list(db) -> None:
    """Every user, with its role."""
    store = open_store_or_exit(db)
    found = _accounts(store).users()
    if not found:
        click.echo("No users yet: add one with `matrixgen user add EMAIL`.")
        return
    click.echo(format_table(("email", "role", "added"), [(u.email, u.role, u.created_at[:16].replace("T", " "))
                                                         for u in found]))


@user_group.command("remove", context_settings=CONTEXT)
@click.argument("email")
@db_option
def user_remove(email, db) -> None:
    """Remove a user and end its sessions at once."""
    store = open_store_or_exit(db)
    accounts = _accounts(store)
    from ..web.audit import record

    if not accounts.remove(email):
        click.echo(f"error: there is no user {email.strip().lower()}; list them with `matrixgen user list`", err=True)
        raise SystemExit(1)
    record(store.engine, _operator(), "user remove", email.strip().lower())
    click.echo(f"Removed {email.strip().lower()}; its sessions are ended.")


def _operator() -> str:
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "command line"
