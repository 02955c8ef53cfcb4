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
