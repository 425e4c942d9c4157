"""The package's shape: layered imports without cycles, a dlt-free core, the demo off the production path."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipelines" / "konnectnxt"
# Modules that must not need dlt: the pure transform, the polling core and what they use.
DLT_FREE = {
    "answers",
    "bookkeeping_rows",
    "case_ids",
    "check_identity",
    "clock_skew",
    "client",
    "config_checks",
    "errors",
    "every_404",
    "log_digest",
    "pii",
    "polling",
    "rate_limit",
    "run_deadline",
    "redaction",
    "report_shape",
    "schedule",
    "settings",
    "table_spec",
    "tables",
    "timestamps",
    "transform",
    "transport",
    "vendor_overflow",
    "vendor_values",
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__").removesuffix("__init__")


def imports_of(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(package modules imported at module level, those imported inside functions, third-party top names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    top, nested, external = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            target = ".".join([p for p in base if p] + ([node.module] if node.module else []))
            names = {target} if node.module else {".".join([*base, alias.name]).strip(".") for alias in node.names}
            (top if node in tree.body else nested).update(n.strip(".") for n in names)
        elif isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            external.add(node.module.split(".")[0])
    return top, nested, external


def graph() -> dict[str, tuple[set[str], set[str], set[str]]]:
    modules = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}
    known = set(modules)

    def resolve(names: set[str]) -> set[str]:
        # "from . import x" names a module when x is one, else the package itself.
        return {name if name in known else name.rsplit(".", 1)[0] if "." in name else "" for name in names} & known

    return {name: (resolve(top), resolve(nested), external) for name, (top, nested, external) in modules.items()}


def test_module_level_imports_have_no_cycles():
    edges = {name: top for name, (top, _, _) in graph().items()}
    visiting, done = set(), set()

    def visit(name: str, path: list[str]) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " -> ".join([*path, name])
        visiting.add(name)
        for target in edges[name]:
            if target != name:
                visit(target, [*path, name])
        visiting.discard(name)
        done.add(name)

    for name in edges:
        visit(name, [])


def test_the_polling_core_and_the_transform_do_not_need_dlt():
    modules = graph()
    for name in DLT_FREE:
        reachable, stack = set(), [name]
        while stack:
            current = stack.pop()
            if current not in reachable:
                reachable.add(current)
                stack.extend(modules[current][0])
        assert reachable <= DLT_FREE, f"{name} reaches {sorted(reachable - DLT_FREE)}"
        for module in reachable:
            assert "dlt" not in modules[module][2], f"{module} imports dlt"


def test_the_demo_is_imported_only_when_the_demo_runs():
    for name, (top, _, _) in graph().items():
        if not name.startswith("demo"):
            assert not {m for m in top if m.startswith("demo")}, f"{name} imports the demo at module level"


def test_the_package_root_holds_sources_and_resources_only():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    decorated = {f.name for f in functions if f.decorator_list}
    assert decorated == {
        "konnectnxt",
        "polled_cases",
        "case_registry",
        "run_record",
        "warehouse_tables",
        "forgotten_record",
        "rebuilt_reports",
        "schema_change_record",
    }
    assert {f.name for f in functions} - decorated == {"table_rows"}  # the transformers' body


def test_no_module_is_over_300_lines():
    long = {path.name: n for path in PACKAGE.parent.rglob("*.py") if (n := len(path.read_text().splitlines())) > 300}
    assert long == {}
