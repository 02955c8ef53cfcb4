"""A populated app served on a loopback port, and Chromium, for the browser tests that visit many pages.

:func:`populated_app` fills the (emptied) test database the way ``utfall serve`` fills an empty registry: the seed
contracts and GO Lab's INDIGO snapshot shipped with the package, plus an investor. :func:`serve` runs an app in a
background thread (werkzeug on 127.0.0.1 and a free port). Tests use them from module-scoped fixtures, so the
import (some seconds) happens once per test module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine
from sqlmodel import Session
from werkzeug.serving import make_server

from registry.indigo import BUNDLED_EXPORT
from registry.indigo.importer import import_export
from registry.loader import SEED_DIR, load_paths
from registry.services.users import create_user
from tests.conftest import empty_all_tables
from tests.web.conftest import PASSWORD
from web import create_app
from web.extensions import db
from web.runs import runs

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
INVESTOR = "investor"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def populated_app(engine: Engine, db_url: str) -> Flask:
    """The web app (CSRF on, as in production) on an emptied database holding the seeds, INDIGO and an investor."""
    empty_all_tables(engine)
    with Session(engine) as session:
        load_paths([SEED_DIR], session=session, actor="seed")
        session.flush()
        import_export(BUNDLED_EXPORT, session=session)
        create_user(session=session, username=INVESTOR, password=PASSWORD, role="investor")
        session.commit()
    return create_app({"TESTING": True, "SQLALCHEMY_ENGINES": {"default": db_url}, "WTF_CSRF_ENABLED": True,
                       "SECRET_KEY": "test-secret"})


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """``app`` served in a background thread; yields its base URL and waits for its simulations at the end."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        assert runs(app).wait(120), "a simulation run did not finish"
        with app.app_context():
            for eng in db.engines.values():
                eng.dispose()
