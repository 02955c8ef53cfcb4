"""Translations: the committed ``.po`` catalogues, compiled to ``.mo`` when the app starts.

Only the ``.po`` files are kept in git (``web/translations/<lang>/LC_MESSAGES/messages.po``), so a plain
``pip install -e .`` needs no build step and a catalogue can never be stale against its ``.mo``. At start
the app compiles every catalogue whose content changed since the last compile into
``<instance>/translations`` (or a temporary folder if the instance folder is not writable); this takes a
few milliseconds and is skipped when nothing changed.

To update the catalogues after changing texts: ``pybabel extract -F babel.cfg -o /tmp/messages.pot .``,
then ``pybabel update -i /tmp/messages.pot -d web/translations`` and translate the new entries. Besides
gettext's own keywords, ``N_`` marks a msgid without translating it (``web.formatting.N_``; the registry's
texts, which cannot import the web layer, use their own ``N_``), and ``NP_`` one with a context
(``web.vocabulary.NP_``; the keyword is declared in ``babel.cfg``).

Work outside a request (the command line, the scheduler, PDFs) renders inside :func:`web.in_language`: the app
with ``flask_babel.force_locale``, so every message, number and date follows the one language asked for.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE_DIR = Path(__file__).resolve().parent / "translations"


def _compile(po_path: Path, mo_path: Path) -> None:
    digest = hashlib.sha256(po_path.read_bytes()).hexdigest()
    stamp = mo_path.with_suffix(".sha256")
    if mo_path.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    # Write beside the target and rename, so parallel workers never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
    with os.fdopen(fd, "wb") as out:
        write_mo(out, catalog)
    os.replace(tmp, mo_path)
    stamp.write_text(digest)


def compiled_translations(instance_path: Path) -> Path:
    """The folder holding up-to-date compiled catalogues (compiling them if needed)."""
    for target in (instance_path / "translations", Path(tempfile.gettempdir()) / "utfall-translations"):
        try:
            for po_path in sorted(SOURCE_DIR.glob("*/LC_MESSAGES/messages.po")):
                _compile(po_path, target / po_path.relative_to(SOURCE_DIR).with_suffix(".mo"))
            return target
        except OSError:
            continue
    return SOURCE_DIR
