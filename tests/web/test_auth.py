"""Login, logout, roles, HTTP Basic, CSRF and the users command."""

from __future__ import annotations

import re

from sqlmodel import select
from werkzeug.security import check_password_hash

from registry.models import User
from tests.web.conftest import PASSWORD, login


def test_login_and_logout(client, make_user):
    make_user("cora-qz", role="curator")
    assert client.get("/login").status_code == 200
    login(client, "cora-qz")
    assert 'class="who"' in client.get("/").get_data(as_text=True)
    assert "cora-qz" in client.get("/").get_data(as_text=True)
    assert client.post("/logout").status_code == 302
    assert "cora-qz" not in client.get("/").get_data(as_text=True)


def test_wrong_password_and_unknown_user_are_refused_alike(client, make_user):
    make_user("cora-qz")
    wrong = client.post("/login?lang=en", data={"username": "cora-qz", "password": "nope-nope-nope"})
    unknown = client.post("/login?lang=en", data={"username": "nobody", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert "Wrong username or password." in unknown.get_data(as_text=True)
    assert "cora-qz" not in client.get("/").get_data(as_text=True).split("<main")[0]


def test_password_is_stored_as_scrypt_hash(app, make_user):
    make_user("cora-qz")
    from web.extensions import session

    with app.app_context():
        user = session().exec(select(User).where(User.username == "cora-qz")).one()
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
    assert check_password_hash(user.password_hash, PASSWORD)


def test_login_redirects_to_next_but_only_within_the_site(client, make_user):
    make_user("cora-qz")
    ok = client.post("/login", data={"username": "cora-qz", "password": PASSWORD, "next": "/contracts?q=x"})
    assert ok.headers["Location"] == "/contracts?q=x"
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post("/login", data={"username": "cora-qz", "password": PASSWORD, "next": evil})
        assert response.headers["Location"] == "/", evil
        client.post("/logout")


def test_curator_pages_need_the_curator_role(client, make_user, add_contract):
    add_contract()
    anonymous = client.get("/contracts/new")
    assert anonymous.status_code == 302 and "/login?next=" in anonymous.headers["Location"]
    make_user("ivan-qz", role="investor")
    login(client, "ivan-qz")
    for url in ("/contracts/new", "/contracts/test-contract/edit", "/contracts/test-contract/yaml",
                "/contracts/new/yaml"):
        assert client.get(url).status_code == 403, url
    assert client.post("/contracts/test-contract/yaml", data={"document": "id: x"}).status_code == 403
    client.post("/logout")
    make_user("adam-qz", role="admin")
    login(client, "adam-qz")
    assert client.get("/contracts/test-contract/edit").status_code == 200  # admins may do what curators do


def test_edit_link_only_for_curators(client, make_user, add_contract):
    add_contract()
    assert "/contracts/test-contract/edit" not in client.get("/contracts/test-contract").get_data(as_text=True)
    make_user("cora-qz", role="curator")
    login(client, "cora-qz")
    assert "/contracts/test-contract/edit" in client.get("/contracts/test-contract").get_data(as_text=True)


def test_http_basic_credentials_identify_api_clients(app, make_user):
    import base64

    from web.auth import current_user, login_required

    make_user("ivan-qz", role="investor")

    @login_required
    def whoami() -> dict[str, str]:
        user = current_user()
        assert user is not None
        return {"user": user.username}

    app.add_url_rule("/test-whoami", view_func=whoami)
    client = app.test_client()
    good = base64.b64encode(f"ivan-qz:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(b"ivan-qz:wrong-password").decode()
    assert client.get("/test-whoami", headers={"Authorization": f"Basic {good}"}).json == {"user": "ivan-qz"}
    refused = client.get("/test-whoami", headers={"Authorization": f"Basic {bad}"})
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    json_client = client.get("/test-whoami", headers={"Accept": "application/json"})
    assert json_client.status_code == 401
    assert client.get("/test-whoami").status_code == 302  # a browser is sent to the login page


def test_csrf_protects_login_logout_and_edit_forms(csrf_client, make_user, add_contract):
    add_contract()
    make_user("cora-qz", role="curator")
    assert csrf_client.post("/login", data={"username": "cora-qz", "password": PASSWORD}).status_code == 400
    page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = csrf_client.post("/login", data={"username": "cora-qz", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert csrf_client.post("/contracts/test-contract/yaml", data={"document": "id: x"}).status_code == 400
    assert csrf_client.post("/logout").status_code == 400
    edit = csrf_client.get("/contracts/test-contract/edit").get_data(as_text=True)
    assert 'name="csrf_token"' in edit


def test_users_create_command(cli, app):
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
    prompted = cli.invoke(main, ["users", "create", "fay", "--role", "investor"],
                          input="prompted-password\nprompted-password\n")
    assert prompted.exit_code == 0, prompted.output
    listed = cli.invoke(main, ["users", "list"])
    assert "cora" in listed.output and "curator" in listed.output and "fay" in listed.output
