"""Reading YAML strictly: every YAML the harness reads (specs, protocols) goes through :func:`load_yaml`.

PyYAML's ``safe_load`` keeps the last of two equal keys and says nothing, so a
protocol that states ``max_drop`` twice would be sealed with one of them
silently dropped. :class:`StrictLoader` refuses a key given twice in one
mapping, naming the key and both lines.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DuplicateKeyError", "StrictLoader", "load_yaml"]

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
