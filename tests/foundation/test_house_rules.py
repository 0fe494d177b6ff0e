"""The house rules, checked: who may import whom, no cycles, bittensor in one place, pure rules
free of heavy libraries, and no module over 400 lines.

The import graph is read from the source with `ast` (every `import`, at the top of a module or
inside a function), so a rule holds however lazily a module imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "flock_subnet"
MAX_LINES = 400

# What each room of `flock_subnet` may import from the others (besides itself and the package
# root, which holds the version numbers). `kit` (the rehearsal kit) and the command line may
# import anything; nothing else may import them.
EVERYTHING = "*"
ALLOWED: dict[str, set[str] | str] = {
    "errors": set(),
    "config": {"errors"},
    "telemetry": {"config", "errors"},
    "rules": {"errors"},
    "ops": {"config", "errors", "models"},
    "chain": {"config", "errors", "rules"},
    "hub": {"config", "errors", "telemetry"},
    "models": {"errors", "hub", "rules", "config"},
    "tasks": {"errors", "rules"},
    "evaluation": {"config", "errors", "hub", "models", "rules", "tasks"},
    "miner": {"chain", "config", "errors", "evaluation", "hub", "models", "ops", "rules", "telemetry"},
    "sqlitedb": {"errors"},
    "validator": {"chain", "config", "errors", "evaluation", "hub", "models", "ops", "rules", "sqlitedb", "telemetry"},
    "leaderboard": {"chain", "errors", "rules", "sqlitedb", "validator"},
    "serve": {"chain", "config", "errors", "evaluation", "hub", "models", "rules"},
    "kit": EVERYTHING,
    "commands": EVERYTHING,
    "cli": EVERYTHING,
    "__main__": EVERYTHING,
}
KIT_ROOMS = {"kit"}
ENTRY_ROOMS = {"commands", "cli", "__main__"}
# Libraries a pure rule must not touch: machine learning, network, chain, logging and plotting.
HEAVY = {
    "torch", "transformers", "tokenizers", "safetensors", "peft", "accelerate", "datasets",
    "bittensor", "huggingface_hub", "httpx", "requests", "urllib3", "wandb", "matplotlib", "loguru",
    "tqdm", "rich",
}  # fmt: skip
PURE_ROOMS = {"rules"}
BITTENSOR_HOMES = ("chain/subtensor.py", "chain/subtensor_*.py", "chain/wallets.py")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    path: Path
    line: int
    target: str  # dotted name as written (a module, or a module's attribute)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> Iterator[Import]:
    name = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield Import(name, path, node.lineno, module)
            for alias in node.names:
                yield Import(name, path, node.lineno, f"{module}.{alias.name}")


def room_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "flock_subnet" or len(parts) < 2:
        return None
    return parts[1]


def internal_modules() -> set[str]:
    return {module_name(path) for path in source_modules()}


def resolve(target: str, modules: set[str]) -> str | None:
    """The module a dotted import name lands in (`a.b.func` -> `a.b`), if it is ours."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


ALL_IMPORTS = [imp for path in source_modules() for imp in imports_of(path)]


def test_every_room_is_in_the_table():
    rooms = {room_of(module_name(path)) for path in source_modules()} - {None}
    assert rooms <= set(ALLOWED), f"add these to ALLOWED and to docs/architecture.md: {rooms - set(ALLOWED)}"


def test_rooms_import_only_what_the_table_allows():
    modules = internal_modules()
    wrong = []
    for imp in ALL_IMPORTS:
        own, target = room_of(imp.importer), resolve(imp.target, modules)
        if own is None or target is None:
            continue
        other = room_of(target)
        allowed = ALLOWED[own]
        if other in (None, own) or allowed == EVERYTHING or other in allowed:
            continue
        wrong.append(f"{imp.path.relative_to(ROOT)}:{imp.line} ({own}) imports {target} ({other})")
    assert not wrong, "imports the layout forbids:\n" + "\n".join(wrong)


def test_production_code_never_imports_the_rehearsal_kit_or_the_command_line():
    modules = internal_modules()
    wrong = []
    for imp in ALL_IMPORTS:
        own, target = room_of(imp.importer), resolve(imp.target, modules)
        if own in KIT_ROOMS | ENTRY_ROOMS or target is None:
            continue
        if room_of(target) in KIT_ROOMS | ENTRY_ROOMS:
            wrong.append(f"{imp.path.relative_to(ROOT)}:{imp.line} imports {target}")
    assert not wrong, "production code reaching into the rehearsal kit or the CLI:\n" + "\n".join(wrong)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in `graph`, as a list of modules, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if color[nxt] == GREY:
                return stack[stack.index(nxt) :] + [nxt]
            if color[nxt] == WHITE and (found := visit(nxt)):
                return found
        stack.pop()
        color[node] = BLACK
        return None

    for node in sorted(graph):
        if color[node] == WHITE and (found := visit(node)):
            return found
    return None


def _graph(imports: list[Import]) -> dict[str, set[str]]:
    modules = internal_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in imports:
        target = resolve(imp.target, modules)
        # A module importing its own package's __init__ (for a sibling) is not a cycle of ours.
        if target and target != imp.importer and not imp.importer.startswith(target + "."):
            graph[imp.importer].add(target)
    return graph


def test_no_import_cycles():
    cycle = _cycle(_graph(ALL_IMPORTS))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _third_party(imp: Import) -> str:
    return imp.target.split(".")[0]


def test_bittensor_only_in_the_chain_adapter_and_the_wallet_helper():
    homes = {path for pattern in BITTENSOR_HOMES for path in PACKAGE.glob(pattern)}
    wrong = [
        f"{imp.path.relative_to(ROOT)}:{imp.line}"
        for imp in ALL_IMPORTS
        if _third_party(imp) == "bittensor" and imp.path not in homes
    ]
    assert homes, "the chain adapter moved: update BITTENSOR_HOMES"
    assert not wrong, "bittensor imported outside the chain adapter and the wallet helper: " + ", ".join(wrong)


def test_pure_rules_import_no_heavy_library():
    wrong = [
        f"{imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if room_of(imp.importer) in PURE_ROOMS and _third_party(imp) in HEAVY
    ]
    assert not wrong, "the pure rules must stay pure:\n" + "\n".join(wrong)


@pytest.mark.parametrize("folder", ["flock_subnet", "neurons", "scripts", "tests"])
def test_no_module_over_400_lines(folder):
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"


def test_the_checks_see_the_package():
    # A rule over an empty graph would pass vacuously.
    assert len(source_modules()) > 50
    assert any(_third_party(imp) == "bittensor" for imp in ALL_IMPORTS)
    assert any(room_of(imp.importer) == "kit" and room_of(imp.target or "") == "miner" for imp in ALL_IMPORTS)
