"""Secrets, sessions, login throttling, HTTPS cookies and security headers: each test replays an attack."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from registry.models import User
from tests.web.conftest import PASSWORD, login
from web.security import ConfigurationError, instance_secret_key

ROOT = Path(__file__).resolve().parents[2]
OLD_DEFAULT_KEY = "dev-only-secret-change-me"


def _app_with_key(app: Flask, key: str) -> Flask:
    forger = Flask("forger")
    forger.config.update(SECRET_KEY=key, SESSION_COOKIE_NAME=app.config["SESSION_COOKIE_NAME"])
    return forger


@pytest.fixture
def app_factory(db_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps on the test database with the given extra settings (several of them act like workers)."""
    from web import create_app
    from web.extensions import db

    made: list[Flask] = []

    def make(**config: object) -> Flask:
        settings = {"SQLALCHEMY_ENGINES": {"default": db_url}, "WTF_CSRF_ENABLED": False,
                    "SECRET_KEY": "a-test-secret-key-of-some-length"}
        settings.update(config)
        app = create_app(settings)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


# --- the secret key ------------------------------------------------------------------------------------


def test_the_app_refuses_to_start_without_a_secret_key(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from web import create_app

    monkeypatch.delenv("UTFALL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="UTFALL_SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_ENGINES": {"default": db_url}})
    with pytest.raises(ConfigurationError, match="UTFALL_SECRET_KEY is shorter than 16"):
        create_app({"SQLALCHEMY_ENGINES": {"default": db_url}, "SECRET_KEY": "short"})
    monkeypatch.setenv("UTFALL_SECRET_KEY", "12345678901234567890")  # JSON would read this as a number
    app = create_app({"SQLALCHEMY_ENGINES": {"default": db_url}})
    assert app.config["SECRET_KEY"] == "12345678901234567890"


def test_gunicorn_style_start_without_a_key_fails_with_a_clear_message(db_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UTFALL_SECRET_KEY"}
    env.update(DATABASE_URL=db_url, UTFALL_INSTANCE=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", "import web; web.create_app()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ConfigurationError: UTFALL_SECRET_KEY is not set" in done.stderr


def test_a_session_forged_with_the_old_default_key_is_not_accepted(
    app_factory: Callable[..., Flask], make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = make_user("root-qz", role="admin")
    monkeypatch.delenv("UTFALL_SECRET_KEY", raising=False)
    app = app_factory(SECRET_KEY=None, TESTING=True)  # testing without a key: a random one, never a default
    assert app.config["SECRET_KEY"] and app.config["SECRET_KEY"] != OLD_DEFAULT_KEY
    client = app.test_client()
    forged = _app_with_key(app, OLD_DEFAULT_KEY)
    cookie = forged.session_interface.get_signing_serializer(forged).dumps(  # type: ignore[attr-defined]
        {"user_id": admin.id, "session_version": 0}
    )
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert client.get("/contracts/new").status_code == 302  # sent to log in: not an admin


def test_serve_keeps_a_private_secret_key_in_the_instance_folder(tmp_path: Path) -> None:
    key = instance_secret_key(tmp_path / "instance")
    path = tmp_path / "instance" / "secret_key"
    assert len(key) >= 32 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert instance_secret_key(tmp_path / "instance") == key  # kept across restarts
    assert instance_secret_key(tmp_path / "other") != key


# --- sessions end on the server ------------------------------------------------------------------------


def _cookie(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def test_a_cookie_copied_before_logout_does_not_work_after_it(
    app: Flask, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user("ivan-qz")
    login(client, "ivan-qz")
    assert client.get("/portfolios").status_code == 200
    copied = _cookie(client, app)
    assert client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], copied)
    response = thief.get("/portfolios")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "ivan-qz")  # logging in again works
    assert client.get("/portfolios").status_code == 200


def test_a_password_change_ends_every_session(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], cli: CliRunner
) -> None:
    from web.cli import main

    make_user("ivan-qz")
    login(client, "ivan-qz")
    other_device = app.test_client()
    login(other_device, "ivan-qz")
    result = cli.invoke(main, ["users", "password", "ivan-qz", "--password-stdin"], input="a-new-long-password\n")
    assert result.exit_code == 0, result.output
    for device in (client, other_device):
        assert device.get("/portfolios").status_code == 302
    assert client.post("/login", data={"username": "ivan-qz", "password": PASSWORD}).status_code == 401
    login(client, "ivan-qz", "a-new-long-password")
    assert client.get("/portfolios").status_code == 200
    short = cli.invoke(main, ["users", "password", "ivan-qz", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least" in short.output
    nobody = cli.invoke(main, ["users", "password", "nobody", "--password-stdin"], input="a-new-long-password\n")
    assert nobody.exit_code == 1 and "no user 'nobody'" in nobody.output


# --- login throttling ----------------------------------------------------------------------------------


def _try(client: FlaskClient, username: str, password: str, **headers: str) -> int:
    return client.post("/login?lang=en", data={"username": username, "password": password},
                       headers=headers).status_code


def test_many_wrong_passwords_then_the_right_one_is_refused(
    app_factory: Callable[..., Flask], make_user: Callable[..., User]
) -> None:
    make_user("ivan-qz")
    # two workers sharing the database: failures seen by one count for the other
    first, second = app_factory(LOGIN_FAILURES_PER_ACCOUNT=4), app_factory(LOGIN_FAILURES_PER_ACCOUNT=4)
    for i in range(4):
        worker = (first if i % 2 else second).test_client()
        assert _try(worker, "ivan-qz", f"guess-{i}") == 401
    response = second.test_client().post("/login?lang=en", data={"username": "ivan-qz", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins. Try again in 15 minutes." in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) == 15 * 60
    swedish = first.test_client().post("/login?lang=sv", data={"username": "IVAN-qz ", "password": PASSWORD})
    assert swedish.status_code == 429
    assert "För många misslyckade inloggningar. Försök igen om 15 minuter." in swedish.get_data(as_text=True)
    # another account from the same address is not locked by these
    make_user("cora-qz")
    assert _try(first.test_client(), "cora-qz", PASSWORD) == 302


def test_guessing_across_accounts_is_throttled_per_address(
    app_factory: Callable[..., Flask], make_user: Callable[..., User]
) -> None:
    make_user("ivan-qz")
    app = app_factory(LOGIN_FAILURES_PER_ADDRESS=3, PROXIES=1)
    client = app.test_client()
    for name in ("anna", "bo", "cay"):
        assert _try(client, name, "guess", **{"X-Forwarded-For": "203.0.113.9"}) == 401
    assert _try(client, "ivan-qz", PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}) == 429
    assert _try(client, "ivan-qz", PASSWORD, **{"X-Forwarded-For": "198.51.100.4"}) == 302


def test_a_successful_login_clears_the_account_failures(
    app_factory: Callable[..., Flask], make_user: Callable[..., User]
) -> None:
    make_user("ivan-qz")
    client = app_factory(LOGIN_FAILURES_PER_ACCOUNT=3).test_client()
    for _ in range(2):
        assert _try(client, "ivan-qz", "wrong-guess") == 401
    assert _try(client, "ivan-qz", PASSWORD) == 302
    client.post("/logout")
    for _ in range(2):
        assert _try(client, "ivan-qz", "wrong-guess") == 401
    assert _try(client, "ivan-qz", PASSWORD) == 302


def test_http_basic_guessing_is_throttled_too(
    app_factory: Callable[..., Flask], make_user: Callable[..., User]
) -> None:
    make_user("ivan-qz")
    client = app_factory(LOGIN_FAILURES_PER_ACCOUNT=3).test_client()

    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"ivan-qz:{password}".encode()).decode()}

    for i in range(3):
        assert client.get("/api/v1/portfolios", headers=basic(f"guess-{i}")).status_code == 401
    refused = client.get("/api/v1/portfolios?lang=en", headers=basic(PASSWORD))
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.json["message"]  # type: ignore[index]


# --- HTTPS and headers ---------------------------------------------------------------------------------


def test_cookies_are_secure_behind_https(app_factory: Callable[..., Flask], make_user: Callable[..., User]) -> None:
    make_user("ivan-qz")
    plain = app_factory().test_client()
    response = plain.post("/login", data={"username": "ivan-qz", "password": PASSWORD})
    assert "Secure" not in response.headers["Set-Cookie"]
    https = app_factory(HTTPS=1, PROXIES=1).test_client()
    response = https.post("/login", data={"username": "ivan-qz", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Location"] == "/"
    assert "max-age=" in https.get("/", headers={"X-Forwarded-Proto": "https"}).headers["Strict-Transport-Security"]


@pytest.mark.parametrize("path", ["/", "/contracts", "/login", "/api/v1/contracts", "/no-such-page",
                                  "/static/style.css", "/contracts/test-contract"])
def test_security_headers_on_every_response(client: FlaskClient, add_contract: Callable[..., object],
                                            path: str) -> None:
    add_contract()
    response = client.get(path)
    response.close()  # a static file is streamed from an open file
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style[\s>]|javascript:", re.I)


def test_pages_need_no_inline_script_or_style(
    client: FlaskClient, add_contract: Callable[..., object], login_as: Callable[..., User]
) -> None:
    add_contract()
    login_as("cora-qz", role="admin")
    for path in ("/", "/contracts", "/contracts/test-contract", "/contracts/test-contract/edit",
                 "/contracts/test-contract/yaml", "/portfolios", "/compare", "/api/v1/docs", "/login"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not INLINE.findall(response.get_data(as_text=True)), path


# --- URLs in data --------------------------------------------------------------------------------------


def test_the_curator_editors_refuse_javascript_urls(
    client: FlaskClient, add_contract: Callable[..., object], login_as: Callable[..., User], engine: object
) -> None:
    import yaml

    from tests.web.conftest import sample_document

    add_contract()
    login_as("cora-qz", role="curator")
    data = sample_document()
    data["sources"][0]["url"] = "javascript:fetch('/logout',{method:'POST'})"
    response = client.post("/contracts/test-contract/yaml?lang=en", data={"document": yaml.safe_dump(data)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-path="sources[0].url"' in page and "http or https URL" in page
    contract = client.get("/contracts/test-contract").get_data(as_text=True)
    assert "javascript:" not in contract


def test_only_http_urls_become_links(client: FlaskClient, add_contract: Callable[..., object]) -> None:
    from tests.web.conftest import sample_document

    data = sample_document()
    data["sources"][0]["url"] = "https://example.org/report.pdf"
    add_contract(data)
    page = client.get("/contracts/test-contract").get_data(as_text=True)
    assert '<a href="https://example.org/report.pdf" rel="noopener nofollow">' in page
    from flask import render_template_string

    with client.application.test_request_context():
        template = "{% for u in urls %}{% if u is http_url %}<a href='{{ u }}'>{% else %}{{ u }}{% endif %}{% endfor %}"
        out = render_template_string(template, urls=["javascript:alert(1)", "https://ok.example/"])
    assert out == "javascript:alert(1)<a href='https://ok.example/'>"


def test_registry_downloads_neutralise_formulas(client: FlaskClient, add_contract: Callable[..., object]) -> None:
    import io

    import openpyxl

    from tests.web.conftest import sample_document

    data = sample_document()
    data["identity"]["names"]["en"] = '=HYPERLINK("https://evil.example","details")'
    add_contract(data)
    csv_text = client.get("/contracts.csv?lang=en").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text and ',=HYPERLINK' not in csv_text and '"=HYPERLINK' not in csv_text
    xlsx = openpyxl.load_workbook(io.BytesIO(client.get("/contracts.xlsx?lang=en").get_data()))
    cells = [c for row in xlsx.active.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=HYPERLINK(\"https://evil.example\",\"details\")" in [c.value for c in cells]


# --- input size ------------------------------------------------------------------------------------------


def test_the_yaml_editor_refuses_an_alias_bomb(
    client: FlaskClient, add_contract: Callable[..., object], login_as: Callable[..., User], engine: object
) -> None:
    add_contract()
    login_as("cora-qz", role="curator")
    levels = ['l0: &l0 "lol"'] + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = "{" + ", ".join(levels) + "}"
    for lang, message in (("en", "The YAML is too large or too deeply nested"),
                          ("sv", "YAML-texten är för stor eller för djupt nästlad")):
        response = client.post(f"/contracts/test-contract/yaml?lang={lang}", data={"document": bomb})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    deep = client.post("/contracts/test-contract/yaml?lang=en", data={"document": "[" * 100 + "]" * 100})
    assert deep.status_code == 422 and "nested more than 64 levels" in deep.get_data(as_text=True)


def test_request_bodies_are_limited(client: FlaskClient) -> None:
    big = "x" * (6 * 1024 * 1024)
    assert client.post("/login", data={"username": big, "password": "p"}).status_code == 413
    response = client.post("/api/v1/simulate", data=big, content_type="application/json")
    assert response.status_code == 413 and response.is_json


def test_the_yaml_editor_takes_a_document_up_to_the_loader_cap_and_explains_a_larger_one(
    client: FlaskClient, add_contract: Callable[..., object], login_as: Callable[..., User], engine: object
) -> None:
    add_contract()
    login_as("cora-qz", role="curator")
    # Sent as multipart (a script posting a file's content), a field over Werkzeug's default 500 kB limit but
    # under the contract-file cap is read by the loader, which names what is wrong with the document, instead
    # of the request being refused unread.
    large = "notes: |\n" + "  words words words words\n" * 30_000
    assert 500_000 < len(large) < 2 * 1024 * 1024
    boundary = "utfall-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"document\"\r\n\r\n{large}\r\n"
            f"--{boundary}--\r\n").encode()
    # The body is built here, not by the test client, whose encoder spools a large body to a temporary file
    # it leaves open.
    response = client.post("/contracts/test-contract/yaml?lang=en", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 422
    assert "Request Entity Too Large" not in response.get_data(as_text=True)
    # Over the cap, under the request limit, posted as a browser posts the editor's form: the editor says how
    # large it is and what is allowed.
    too_large = "notes: |\n" + "  words words words words\n" * 100_000
    assert 2 * 1024 * 1024 < len(too_large) < 5 * 1024 * 1024
    response = client.post("/contracts/test-contract/yaml?lang=en", data={"document": too_large})
    assert response.status_code == 422
    assert "more than the 2,097,152 bytes a YAML document may have" in response.get_data(as_text=True)
