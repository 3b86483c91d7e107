"""Read YAML while keeping line numbers, so that every error names the line and field."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import ProjectSpecError

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


class Doc:
    """One YAML file: its path (for messages) and the root node."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ProjectSpecError(f"not valid YAML: {exc.problem or exc.context}",
                                   path, mark.line + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise ProjectSpecError(f"not valid YAML: {exc}", path) from None

    def error(self, node: yaml.Node | None, field: str, message: str) -> ProjectSpecError:
        line = node.start_mark.line + 1 if node is not None else None
        return ProjectSpecError(message, self.path, line, field or None)

    def mapping(self, node: yaml.Node | None, field: str) -> list[tuple[str, yaml.Node]]:
        """The (key, value node) pairs of a mapping; keys must be unique strings."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, f"must be a mapping (key: value lines), "
                                          f"got {describe(node)}")
        out: list[tuple[str, yaml.Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL:
                raise self.error(key_node, field, f"keys must be names, got {describe(key_node)}")
            key = str(key_node.value)
            if key in seen:
                raise self.error(key_node, join(field, key), "appears twice")
            seen.add(key)
            out.append((key, value_node))
        return out

    def string(self, node: yaml.Node | None, field: str) -> str:
        """A non-empty plain string (numbers are not silently turned into strings)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR or not node.value.strip():
            raise self.error(node, field, f"must be a non-empty string, got {describe(node)}")
        return str(node.value)

    def strings(self, node: yaml.Node | None, field: str) -> list[str]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, f"must be a list of strings, got {describe(node)}")
        return [self.string(item, f"{field}[{i}]") for i, item in enumerate(node.value)]

    def scalar(self, node: yaml.Node, field: str) -> Any:
        """The Python value of a scalar (int, float, str, bool or None)."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, field, f"must be a single value, got {describe(node)}")
        return yaml.SafeLoader("").construct_object(node)


def join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def describe(node: yaml.Node | None) -> str:
    """What a node is, for error messages: ``a list``, ``the number 3``, ``nothing``."""
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    kind = node.tag.rsplit(":", 1)[-1]
    names = {"int": "the number", "float": "the number", "bool": "the boolean",
             "str": "the string"}
    if kind == "str":
        return repr(node.value)
    return f"{names.get(kind, kind)} {node.value}"
