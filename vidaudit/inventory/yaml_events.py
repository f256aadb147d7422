"""Build a YAML document's Python data straight from PyYAML's event stream.

Why by hand: ``yaml.load`` first composes the whole document into a node graph (every
scalar a node with two position marks) and only then constructs the data.  For a
provincial inventory (50,000 channels, 7 MB of YAML) that graph peaks at ~300 MB and takes
~9 s before the first dict exists, and a collector worker's memory never gives that peak
back.  Constructing each value as its event arrives keeps only the data (peak ~ its size)
at a fraction of the time.  No well-kept library does this with YAML 1.1 semantics (the
fast Rust/C++ loaders speak YAML 1.2: ``no`` and ``on`` change meaning, and a bank's
existing cameras.yaml would load differently).

Everything that decides meaning stays PyYAML's: the C parser (libyaml) produces the
events, ``Resolver.resolve`` gives each scalar its tag and ``SafeConstructor``'s
registered constructors build it.  The fast path covers plain documents (mappings,
sequences, scalars, anchors and aliases); anything else (a merge key, an explicit
collection tag, a duplicate key or anchor, a complex key, several documents, a scalar its
constructor refuses) raises ``Unsupported``, and the caller loads that text the classic
way, which gives exactly the result or error it always gave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

#: The safe loader on libyaml where the wheel has it (the pure one otherwise; same events).
BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Unsupported(Exception):
    """The document needs the classic loader (its result or its error)."""


class _Mapping:
    """A mapping being built: its dict and the key waiting for its value.  YAML keys are
    unique: a key already in the dict goes to the classic loader, whose strict
    constructor names the lines of both."""

    __slots__ = ("data", "has_key", "key")

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.key: Any = None
        self.has_key = False

    def add(self, value: Any) -> None:
        if not self.has_key:
            if isinstance(value, list | dict):
                raise Unsupported("a collection as a mapping key")
            try:
                if value in self.data:
                    raise Unsupported("a duplicate key")
            except TypeError:
                raise Unsupported("an unhashable key") from None
            self.key, self.has_key = value, True
            return
        self.data[self.key] = value
        self.key, self.has_key = None, False


def load(text: str) -> Any:
    """The single document in ``text`` as Python data, as ``yaml.safe_load`` would give it
    (with keys required unique); ``Unsupported`` when the classic loader must decide."""
    # Any: PyYAML's loaders are untyped mixins (parser + resolver + constructor).
    loader: Any = BASE_LOADER(text)
    try:
        return _build(loader)
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"


def _scalar(loader: Any, event: ScalarEvent, texts: dict[str, str]) -> Any:
    """The scalar's value; equal strings come out as one object (``texts``): a fleet
    repeats its channel names, roles and profile tokens thousands of times."""
    tag = event.tag
    if tag is None or tag == "!":
        if not event.implicit[0]:
            # quoted or block text with no tag: a string (YAML 1.1)
            return texts.setdefault(event.value, event.value)
        tag = loader.resolve(ScalarNode, event.value, event.implicit)
    if tag == _STR:
        # what construct_yaml_str gives, without a node
        return texts.setdefault(event.value, event.value)
    if tag == "tag:yaml.org,2002:merge":
        raise Unsupported("a merge key")
    construct = yaml.SafeLoader.yaml_constructors.get(tag)
    if construct is None:
        raise Unsupported(f"tag {tag}")
    marks: Any = (event.start_mark, event.end_mark)  # libyaml's marks are its own class
    node = ScalarNode(tag, event.value, marks[0], marks[1], event.style)
    try:
        return construct(loader, node)
    except Exception as exc:  # noqa: BLE001 -- the classic loader reports it, with position
        raise Unsupported(str(exc)) from None


def _collection_tag(loader: Any, event: Any, kind: type, default: str) -> None:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(kind, None, event.implicit)
    if tag != default:
        raise Unsupported(f"tag {tag}")


class _Root:
    """Holds the document's top value."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: Any = None

    def add(self, value: Any) -> None:
        self.data = value


def _build(loader: Any) -> Any:
    anchors: dict[str, Any] = {}
    texts: dict[str, str] = {}
    root = _Root()
    # Each frame is where the next value goes: the root's, a mapping's or a list's add.
    stack: list[Callable[[Any], None]] = [root.add]
    documents = 0

    def anchor(name: str | None, value: Any) -> None:
        if name in anchors:
            raise Unsupported("a duplicate anchor")
        anchors[name] = value  # type: ignore[index]

    while True:
        event: Any = loader.get_event()
        kind = type(event)
        if kind is ScalarEvent:
            value = _scalar(loader, event, texts)
            if event.anchor is not None:
                anchor(event.anchor, value)
            stack[-1](value)
        elif kind is MappingStartEvent:
            _collection_tag(loader, event, MappingNode, _MAP)
            mapping = _Mapping()
            if event.anchor is not None:
                anchor(event.anchor, mapping.data)
            stack[-1](mapping.data)
            stack.append(mapping.add)
        elif kind is SequenceStartEvent:
            _collection_tag(loader, event, SequenceNode, _SEQ)
            items: list[Any] = []
            if event.anchor is not None:
                anchor(event.anchor, items)
            stack[-1](items)
            stack.append(items.append)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
        elif kind is AliasEvent:
            if event.anchor not in anchors:
                raise Unsupported("an undefined alias")
            stack[-1](anchors[event.anchor])
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise Unsupported("several documents")
        elif kind is StreamEndEvent:
            return root.data
        elif kind is not StreamStartEvent and kind is not DocumentEndEvent:
            raise Unsupported(f"event {kind.__name__}")
