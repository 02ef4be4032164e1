"""Delete the activation-store entries no request of the current code can hit (`store_pruning`).

Each edit of the activation or residual code leaves a full copy of the store behind (its keys
hash that code); this frees it. Run it when no figure is being made. Usage:

    python scripts/prune_activation_store.py [--store artifacts/activations] [--dry-run]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.models.loading import DEFAULT_ARTIFACTS  # noqa: E402
from mechrefusal.store.pruning import prune  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=str(DEFAULT_ARTIFACTS / "activations"))
    parser.add_argument("--dry-run", action="store_true", help="list the entries, delete nothing")
    args = parser.parse_args(argv)
    stale = prune(args.store, dry_run=args.dry_run)
    for entry in stale:
        print(f"{entry.paths[0]}: {entry.reason}")
    megabytes = sum(entry.size for entry in stale) / 1e6
    verb = "would free" if args.dry_run else "freed"
    print(f"{len(stale)} stale entries in {args.store}; {verb} {megabytes:.1f} MB")


if __name__ == "__main__":
    run_entry(main)
