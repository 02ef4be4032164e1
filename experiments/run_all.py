"""Run experiment scripts in order and write <out>/MANIFEST.json (`mechrefusal figures --model`).

Options go to every script (e.g. `--quick`, `--model <hf id> --base-model <id>`, `--out DIR`);
`--only 00,12` runs a subset by script number. The full job of every model is
`mechrefusal figures` (or `make figures`).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.cli.figures import run_scripts  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    return run_scripts(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    run_entry(main)
