"""Reading YAML strictly: every YAML the harness reads (specs, protocols) goes through :func:`load_yaml`.

PyYAML's ``safe_load`` keeps the last of two equal keys and says nothing, so a
protocol that states ``max_drop`` twice would be sealed with one of them
silently dropped. :class:`StrictLoader` refuses a key given twice in one
mapping, naming the key and both lines.
"""

from __future__ import annotations

from typing import Any, Union

import yaml

__all__ = ["DuplicateKeyError", "StrictLoader", "load_yaml", "load_yaml_lines"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice (the message names the key and both lines)."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings refuse a key given twice.

    Keys are compared as the values they load as (``1`` and ``1.0``, ``yes`` and ``true`` are
    one key, as they would be in the loaded dict). Keys a merge (``<<: *anchor``) brings in may
    be overridden, as YAML allows; two keys written in the same mapping may not.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader says so itself
                    continue
                if first is not None:
                    raise DuplicateKeyError(_twice(first, key_node))
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _twice(first: yaml.Node, second: yaml.Node) -> str:
    lines = f"lines {first.start_mark.line + 1} and {second.start_mark.line + 1}"
    if first.value == second.value:
        return f"key {first.value!r} is given twice ({lines})"
    return f"keys {first.value!r} and {second.value!r} load as the same key ({lines})"


def load_yaml(text: str) -> Any:
    """The data of one YAML document, read with :class:`StrictLoader`.

    Raises:
        DuplicateKeyError: A mapping gives a key twice.
        yaml.YAMLError: The text is not valid YAML.
    """
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


Path = tuple[Union[str, int], ...]
"""Where a value sits in a document: mapping keys (as written) and list indexes, from the top."""


def load_yaml_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """The data of one YAML document (as :func:`load_yaml`) and the line (1-based) of each value.

    A mapping entry's line is the line of its key; a list item's, the line of the item. The top of
    the document is ``()``. Errors say *where* with these lines: ``spec.robust.yaml:4: ...``.

    Raises:
        DuplicateKeyError: A mapping gives a key twice.
        yaml.YAMLError: The text is not valid YAML.
    """
    data = load_yaml(text)
    lines: dict[Path, int] = {}
    node = yaml.compose(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    if node is not None:
        _walk(node, (), node.start_mark.line + 1, lines)
    return data, lines


def _walk(node: yaml.Node, path: Path, line: int, lines: dict[Path, int]) -> None:
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                _walk(value, (*path, str(key.value)), key.start_mark.line + 1, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), item.start_mark.line + 1, lines)
