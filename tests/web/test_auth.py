"""Login, logout, roles and CSRF."""

from __future__ import annotations

from tests.web.conftest import login


def test_login_and_logout(client, make_user):
    make_user("anna", role="curator")
    assert client.get("/login").status_code == 200
    login(client, "anna")
    page = client.get("/").get_data(as_text=True)
    assert "anna" in page
    assert client.post("/logout").status_code == 302
    assert "anna" not in client.get("/").get_data(as_text=True)


def test_users_create_command(cli, app):
    from sqlmodel import select
    from werkzeug.security import check_password_hash

    from registry.models import User
    from web.cli import main
    from web.extensions import session

    result = cli.invoke(main, ["users", "create", "cora", "--role", "curator", "--password-stdin"],
                        input="a-long-password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = session().exec(select(User).where(User.username == "cora")).one()
        assert user.role == "curator"
        assert user.password_hash.startswith("scrypt:")
        assert check_password_hash(user.password_hash, "a-long-password")
    again = cli.invoke(main, ["users", "create", "cora", "--password-stdin"], input="another-password\n")
    assert again.exit_code != 0 and "already exists" in again.output
    short = cli.invoke(main, ["users", "create", "dan", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least" in short.output
    bad_role = cli.invoke(main, ["users", "create", "eve", "--role", "king", "--password-stdin"], input="x" * 10)
    assert bad_role.exit_code != 0
