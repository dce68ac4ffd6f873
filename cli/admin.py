"""`switchlog admin`: create an admin, or give one a new password when it was lost."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from cli.store import fail, load_settings
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import DomainError

admin_app = typer.Typer(help="Admins: create one, or reset a lost password", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

Login = Annotated[str, typer.Option("--login", help="The admin's login")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from one line of stdin instead of prompting"
    ),
]


def operator() -> CommandContext:
    """The OS user at the command line, recorded as the actor of what the command changes."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        user = f"uid-{os.getuid()}"
    return CommandContext(Actor.system(f"cli:{user}"))


def read_password(from_stdin: bool) -> str:
    """A new password: one line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on stdin (--password-stdin reads one line)")
        return password
    if not sys.stdin.isatty():
        fail("stdin is not a terminal to prompt on; pipe the password with --password-stdin")
    return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))


@admin_app.command("create")
def create(login: Login, password_stdin: PasswordStdin = False) -> None:
    """Create an admin (another operator, or the first one on a new store)."""
    settings = load_settings(create=True)
    password = read_password(password_stdin)
    rt = Runtime(settings)
    try:
        admin_id = rt.directory.create_admin(operator(), login, password)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"admin {login!r} created ({admin_id})")


@admin_app.command("reset-password")
def reset_password(login: Login, password_stdin: PasswordStdin = False) -> None:
    """Give an admin a new password, e.g. when it was lost; the old one stops working."""
    settings = load_settings(create=False)
    password = read_password(password_stdin)
    rt = Runtime(settings)
    try:
        rt.directory.reset_admin_password(operator(), login, password)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"admin {login!r}: password reset. Tokens issued before it no longer work.")
