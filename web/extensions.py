"""Flask extensions, created unbound and initialised in the app factory."""

from __future__ import annotations

from typing import cast

import sqlmodel
from flask_babel import Babel
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy(session_options={"class_": sqlmodel.Session, "expire_on_commit": False})
babel = Babel()
csrf = CSRFProtect()


def session() -> sqlmodel.Session:
    """This app context's database session, typed as the SQLModel session it is."""
    return cast(sqlmodel.Session, db.session)
