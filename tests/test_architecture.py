"""Layering and hygiene rules of the package, checked by parsing imports (no dependency needed)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mechrefusal"

# Import direction (DESIGN §4): a module may import only modules listed before it.
LAYERS = [
    "_version",
    "_typing",
    "categories",
    "artifacts",
    "distributed",
    "activation_store",
    "world",
    "paraphrase",
    "prompts",
    "realdata",
    "realprompts",
    "tokenizer",
    "chat",
    "architecture",
    "transposed",
    "grouped_attention",
    "organism",
    "hooks",
    "shared_prefix",
    "residual_store",
    "generation",
    "evaluation",
    "scorers",
    "realtune",
    "smollm2",
    "models",
    "activations",
    "interventions",
    "directions",
    "whitening",
    "probe",
    "geometry",
    "layers",
    "diffing",
    "steering",
    "ridge",
    "lowrank",
    "store_pruning",
    "methods",
    "comparison",
    "sae",
    "patching",
    "plotting",
    "experiment",
    "__init__",
]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_module_is_in_the_layer_list():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(LAYERS)


def test_imports_follow_the_layers():
    for path in PACKAGE.glob("*.py"):
        mine = LAYERS.index(path.stem)
        for name in imports_of(path):
            if name.startswith("mechrefusal."):
                other = name.split(".")[1]
                assert LAYERS.index(other) < mine, (
                    f"{path.stem} imports {other}, which sits above it"
                )


def test_only_plotting_imports_matplotlib():
    for path in PACKAGE.glob("*.py"):
        uses = any(n.split(".")[0] == "matplotlib" for n in imports_of(path))
        assert uses == (path.stem == "plotting"), path.stem


def test_no_pickle_anywhere():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        assert "pickle" not in imports_of(path), path.stem
        assert "torch.load(" not in text and "trust_remote_code=True" not in text, path.stem
