"""``utfall users``: add and list web users."""

from __future__ import annotations

import sys

import click

from registry import db
from registry.services.users import ROLES, UserError, create_user, list_users, set_password, user_named


@click.group("users")
def users_group() -> None:
    """Manage web users (investors, curators, administrators)."""


def _read_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="investor", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def create_command(username: str, role: str, password_stdin: bool) -> None:
    """Add a user with a role; the password is asked for (twice) unless given on standard input."""
    password = _read_password(password_stdin, "Password")
    try:
        with db.session_scope() as session:
            create_user(session=session, username=username, password=password, role=role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username!r}")


@users_group.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (for scripts).")
def password_command(username: str, password_stdin: bool) -> None:
    """Set a user's password; every session the user has is ended."""
    password = _read_password(password_stdin, "New password")
    try:
        with db.session_scope() as session:
            user = user_named(session=session, username=username)
            if user is None:
                raise click.ClickException(f"no user {username!r}")
            set_password(session=session, user=user, password=password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {username!r} changed; their sessions are ended")


@users_group.command("list")
def list_command() -> None:
    """List users and their roles."""
    with db.session_scope() as session:
        for user in list_users(session=session):
            click.echo(f"{user.username:<30} {user.role}")

