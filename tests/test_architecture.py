"""Layering and hygiene rules of the package, checked by parsing imports (no dependency needed).

The package is a stack of floors (docs/method.md, "Code layout"): top-level core modules, then
`data`, `store`, `engine`, `scoring`, `models`, `analysis`, `steering`, `reporting`, `cli`. A
module may import a module on a lower floor, or one listed before it on its own floor.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mechrefusal"

FLOORS: list[tuple[str, list[str]]] = [
    (
        "",
        [
            "_version",
            "_paths",
            "_progress",
            "_names",
            "_entry",
            "_typing",
            "categories",
            "distributed",
        ],
    ),
    (
        "data",
        [
            "chat",
            "lexicon",
            "world",
            "paraphrase",
            "templates",
            "prompts",
            "realdata",
            "near_duplicates",
            "realtemplates",
            "realprompts",
            "minimal_pairs",
        ],
    ),
    ("store", ["locking", "artifacts", "activation_store", "residual_store", "pruning"]),
    (
        "engine",
        ["hooks", "live_rows", "grouped_attention", "transposed", "shared_prefix", "generation"],
    ),
    ("scoring", ["evaluation", "scorers", "paired"]),
    (
        "models",
        ["architecture", "tokenizer", "organism", "finetune", "smollm2", "loading", "export"],
    ),
    (
        "analysis",
        [
            "activations",
            "interventions",
            "directions",
            "probe",
            "geometry",
            "layers",
            "diffing",
            "sae",
            "patching",
        ],
    ),
    (
        "steering",
        [
            "router",
            "whitening",
            "ridge",
            "lowrank",
            "methods",
            "comparison",
            "sweeps",
            "false_refusal",
            "presets",
            "matrices",
            "preview",
            "routing_study",
            "layer_choice",
        ],
    ),
    ("reporting", ["verdicts", "plotting", "experiment"]),
    ("cli", ["figures", "evaluate", "chat", "export", "main"]),
    ("", ["__main__", "__init__"]),
]
LAYERS = [f"{pkg}.{m}" if pkg else m for pkg, mods in FLOORS for m in mods]
SUBPACKAGES = {pkg for pkg, _ in FLOORS if pkg}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module.split(".")[0] == "mechrefusal":
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def internal_modules(path: Path) -> set[str]:
    """The package modules a file imports (`from mechrefusal.data import prompts` included)."""
    out = set()
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] != "mechrefusal" or len(parts) < 2:
            continue
        dotted = ".".join(parts[1:3]) if parts[1] in SUBPACKAGES else parts[1]
        if dotted in LAYERS:
            out.add(dotted)
    return out


def sources() -> list[Path]:
    return [
        p for p in PACKAGE.rglob("*.py") if not (p.name == "__init__.py" and p.parent != PACKAGE)
    ]


def test_every_module_is_in_the_layer_list():
    assert {module_name(p) for p in sources()} == {m.removesuffix(".__init__") for m in LAYERS}


def test_subpackages_only_document_themselves():
    """A subpackage's `__init__` imports nothing, so importing one module never drags its room."""
    for pkg in SUBPACKAGES:
        init = PACKAGE / pkg / "__init__.py"
        assert init.exists(), pkg
        assert not imports_of(init), pkg
        assert ast.get_docstring(ast.parse(init.read_text())), (
            f"{pkg}/__init__.py says what lives there"
        )


def test_imports_follow_the_floors():
    for path in sources():
        me = module_name(path)
        mine = LAYERS.index(me)
        for other in internal_modules(path):
            assert LAYERS.index(other) < mine, f"{me} imports {other}, which sits above it"


def test_the_layer_check_sees_package_imports():
    """`from mechrefusal.steering import lowrank` must count as importing steering.lowrank."""
    path = PACKAGE / "store" / "pruning.py"
    assert "store.residual_store" in internal_modules(path)


def test_only_plotting_imports_matplotlib():
    for path in sources():
        uses = any(n.split(".")[0] == "matplotlib" for n in imports_of(path))
        assert uses == (module_name(path) == "reporting.plotting"), module_name(path)


def test_no_pickle_anywhere():
    for path in sources():
        text = path.read_text()
        assert "pickle" not in imports_of(path), module_name(path)
        assert "torch.load(" not in text and "trust_remote_code=True" not in text, module_name(path)
