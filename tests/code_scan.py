"""Reading our own code as code (its syntax tree), for the rules that no test of behaviour can
hold alone: which code writes a payment's aggregate, what a module imports, whether views and
selectors hang attributes on model instances."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGGREGATE_FIELDS = frozenset({"authorized", "captured", "cancelled", "refunded"})
# Calls whose keywords write model fields.
_WRITING_CALLS = frozenset({"create", "get_or_create", "update", "update_or_create"})


def python_files(*folders, root=ROOT):
    """The Python files under `folders` (relative to `root`), migrations left out: they are
    history, applied once."""
    return sorted(
        path
        for folder in folders
        for path in (root / folder).rglob("*.py")
        if "migrations" not in path.relative_to(root).parts
    )


def _names_in(node):
    """The constant strings of a list, tuple or set literal (update_fields=[...])."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return {element.value for element in node.elts if isinstance(element, ast.Constant)}
    return set()


def _targets(node):
    """What an assignment assigns to, tuples unpacked (not what a subscript's key reads)."""
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return
    while targets:
        target = targets.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            targets += target.elts
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
        else:
            yield target


def aggregate_writes(source, fields=AGGREGATE_FIELDS):
    """Where `source` (Python code) writes one of `fields`: (line, what) for every assignment
    to such an attribute, setattr() of it (or of a name only known when it runs), a
    create/update call or a model's constructor given it as a keyword (or in `defaults`), and
    a save() or bulk_update() naming it."""
    writes = []
    tree = ast.parse(source)
    # Names the module gives to text once (setattr(user, _CACHE, ...)): what a setattr() of
    # one of them writes is known.
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        for target in _targets(node):
            if isinstance(target, ast.Attribute) and target.attr in fields:
                writes.append((node.lineno, f"assigns .{target.attr}"))
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name == "setattr" and len(node.args) >= 2:
            field = node.args[1]
            if isinstance(field, ast.Name) and field.id in constants:
                field = ast.Constant(constants[field.id])
            if not isinstance(field, ast.Constant):
                writes.append((node.lineno, "setattr() of a field named when it runs"))
            elif field.value in fields:
                writes.append((node.lineno, f"setattr() of {field.value}"))
        written = set()
        if name in _WRITING_CALLS or name == "Payment":
            written |= {keyword.arg for keyword in node.keywords if keyword.arg in fields}
            for keyword in node.keywords:
                if keyword.arg == "defaults" and isinstance(keyword.value, ast.Dict):
                    written |= {
                        key.value for key in keyword.value.keys if isinstance(key, ast.Constant)
                    } & fields
        for keyword in node.keywords:
            if keyword.arg in ("update_fields", "fields"):
                written |= _names_in(keyword.value) & fields
        if name == "bulk_update" and len(node.args) >= 2:
            written |= _names_in(node.args[1]) & fields
        writes += [(node.lineno, f"{name}() writes {field}") for field in sorted(written)]
    return writes


def attribute_assignments(source):
    """(line, "object.attribute") for every assignment to an attribute of anything but `self`
    in `source`: what a module hangs on objects it was given or read."""
    found = []
    for node in ast.walk(ast.parse(source)):
        for target in _targets(node):
            if isinstance(target, ast.Attribute) and not (
                isinstance(target.value, ast.Name) and target.value.id == "self"
            ):
                found.append((node.lineno, f"{ast.unparse(target.value)}.{target.attr}"))
    return found


def module_name(path, root=ROOT):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node):
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source):
    """The modules `source` imports, wherever (in functions too), except for type checkers
    only (`if TYPE_CHECKING:`): each as (module, names imported from it)."""
    imports = []

    def visit(node):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            imports.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.append((node.module, tuple(alias.name for alias in node.names)))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return imports


def reachable_modules(start, *, packages=("payments", "backoffice"), root=ROOT):
    """The modules of `packages` that importing `start` imports, directly or through others
    (a module's package __init__ included)."""
    files = {module_name(path, root): path for path in python_files(*packages, root=root)}
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen or module not in files:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:end]) for end in range(1, len(parts))]
        for imported, names in imports_of(files[module].read_text()):
            todo.append(imported)
            todo += [f"{imported}.{name}" for name in names]
    return seen
