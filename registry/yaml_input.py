"""The one way YAML is read (contract files, portfolio files, the curator's YAML editor): bounded.

YAML from files and web forms is untrusted. Three things would otherwise let a small input do a lot of
harm:

- alias bombs ("billion laughs"): nine anchors of ten aliases each are a few hundred bytes that expand to
  10^9 values once validation walks them (PyYAML shares the aliased objects, so loading is fast, but every
  later pass is not);
- deep nesting, which ends in a RecursionError in the constructor;
- sheer size.

So the text is first scanned as a stream of parser events (libyaml's C parser where present), counting
every value as it would be after expanding aliases, and the nesting depth; only then is it loaded with the
safe loader. Nothing here executes code: only the safe loader's plain types are ever built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from registry.schema import MAX_YAML_BYTES

__all__ = ["MAX_YAML_BYTES", "YamlInputError", "load_yaml", "read_yaml_file"]
MAX_YAML_NODES = 200_000  # values after alias expansion; the largest contract file has ~3,000
MAX_YAML_DEPTH = 64

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]


class YamlInputError(ValueError):
    """YAML that is malformed (``syntax``) or beyond the limits; the message says which and where."""

    def __init__(self, message: str, *, syntax: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.syntax = syntax
        self.detail = detail or message


def _position(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


def _check(text: str) -> None:
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names (once complete)
    stack: list[list[Any]] = []  # open collections: [anchor, expanded size so far]
    total = 0

    def add(size: int, event: yaml.Event) -> None:
        nonlocal total
        if stack:
            stack[-1][1] += size
            grown = stack[-1][1]
        else:
            total += size
            grown = total
        if grown > MAX_YAML_NODES or total + sum(f[1] for f in stack) > MAX_YAML_NODES:
            raise YamlInputError(
                f"{_position(event)}: more than {MAX_YAML_NODES:,} values once aliases are expanded "
                "(an alias bomb, or far larger than any contract or portfolio)"
            )

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, event)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise YamlInputError(f"{_position(event)}: alias *{event.anchor} refers to a value that contains it "
                                     "or is not defined before it")
            add(sizes[event.anchor], event)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_YAML_DEPTH:
                raise YamlInputError(f"{_position(event)}: nested more than {MAX_YAML_DEPTH} levels deep")
            stack.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
            add(size, event)


def load_yaml(text: str | bytes, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse untrusted YAML text into plain Python data (dicts, lists, strings, numbers, dates...).

    Raises :class:`YamlInputError` for text longer than ``max_bytes`` (UTF-8), nesting deeper than
    :data:`MAX_YAML_DEPTH`, more than :data:`MAX_YAML_NODES` values after alias expansion, or malformed YAML.
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YamlInputError(f"{size:,} bytes is more than the {max_bytes:,} bytes a YAML document may have")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlInputError(f"not UTF-8 text: {exc}") from None
    try:
        _check(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - the safe loader (C or Python), checked above
    except yaml.YAMLError as exc:
        raise YamlInputError(f"not valid YAML: {exc}", syntax=True, detail=str(exc)) from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise YamlInputError(f"nested more than {MAX_YAML_DEPTH} levels deep") from None


def read_yaml_file(path: Any, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """:func:`load_yaml` of a file, refusing a file over ``max_bytes`` before reading it."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise YamlInputError(f"the file has {size:,} bytes, more than the {max_bytes:,} bytes allowed")
    return load_yaml(path.read_bytes(), max_bytes=max_bytes)
