"""Shared command line and output handling for the `experiments/NN_*.py` scripts (docs/method.md, "Figures").

Every script parses the same options (`--model --base-model --prompts --seed --out --quick
--device --dtype --n-devices --layer`), loads its model through `models.load_model`, and saves
`NN_name.png` + `NN_name.json` atomically through `save`, which records the seed, model
fingerprint, git SHA and wall time and prints where the files went.
"""

import argparse
import dataclasses
import hashlib
import json
import random
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from mechrefusal import distributed
from mechrefusal._paths import default_artifacts, experiments_dir
from mechrefusal._version import __version__
from mechrefusal.analysis.layers import LayerSweepResult, layer_sweep
from mechrefusal.data.prompts import (
    PROMPT_SPLITS,
    Prompt,
    choice_split,
    choice_split_name,
    load_jsonl,
)
from mechrefusal.models.loading import DEFAULT_ARTIFACTS, LoadedModel, check_layer, load_model
from mechrefusal.steering.router import Router, fit_router
from mechrefusal.store.activation_store import ActivationStore, set_default_store
from mechrefusal.store.artifacts import file_hash, source_hash, write_json

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_args(doc: str | None, argv: list[str] | None, *, extra=None) -> argparse.Namespace:
    """The common options; `extra(parser)` adds a script's own."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default="organism",
        help="organism[:preset], a saved model directory, or a Hugging Face Llama id/dir",
    )
    parser.add_argument(
        "--base-model",
        default=None,
        help="base model for diffing (default: the organism's base; required for HF models)",
    )
    parser.add_argument(
        "--prompts", default=None, help="JSONL prompt set (default: the organism's world)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="figures", help="output directory for PNG + JSON")
    parser.add_argument(
        "--artifacts",
        default=str(DEFAULT_ARTIFACTS),
        help="artifact store: trained models, caches (default: $MECHREFUSAL_ARTIFACTS, else the "
        "checkout's artifacts/)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="micro organism, for tests and smoke runs"
    )
    parser.add_argument(
        "--layer",
        type=int,
        default=None,
        help="layer to analyse (default: chosen by the layer sweep)",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, ... (default: TL's choice)"
    )
    parser.add_argument("--dtype", default="float32", choices=sorted(_DTYPES))
    parser.add_argument(
        "--n-devices", type=int, default=1, help="split the model over this many GPUs (TL)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--activation-cache",
        default=None,
        help="directory of the on-disk activation cache (default: <artifacts>/activations; "
        "'none' turns it off)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="on an error, show the traceback, not one line"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.quick and args.model == "organism":
        args.model = "organism:micro"
    if args.activation_cache is None:
        args.activation_cache = str(Path(args.artifacts) / "activations")
    seed_everything(args.seed)
    return args


def use_activation_store(args: argparse.Namespace) -> None:
    """Make --activation-cache the default store, so every figure reads what another cached."""
    set_default_store(
        None if args.activation_cache == "none" else ActivationStore(args.activation_cache)
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def load(args: argparse.Namespace, *, variant: str = "refusal") -> LoadedModel:
    """Load the model named by --model (or its base / control variant), training the organism
    on first use. Only the organism has a control model."""
    spec = args.model
    if getattr(args, "layer", None) is not None:
        check_layer(spec, args.layer)  # before anything is trained for a layer it lacks
    if variant == "base" and args.base_model:
        spec, variant = args.base_model, "refusal"
    elif variant != "refusal" and not spec.startswith("organism") and spec != "smollm2":
        raise ValueError(
            "Model diffing of an external model needs --base-model <hf id or dir>."
            if variant == "base"
            else f"{spec} has no control model (only the organism trains one)."
        )
    return load_model(
        spec,
        variant=variant,
        root=args.artifacts,
        device=args.device,
        dtype=_DTYPES[args.dtype],
        n_devices=args.n_devices,
    )


@dataclass(frozen=True)
class PromptSplits:
    """The prompt sets a script works on: direction split (fit) and eval split (measure)."""

    direction: list[Prompt]
    eval: list[Prompt]
    train: list[Prompt]
    """The organism's fine-tuning split (empty for user prompt sets without one)."""
    paraphrase: list[Prompt] = field(default_factory=list)
    """Evaluation only, on another sentence grammar (the organism's; empty elsewhere)."""
    external: list[Prompt] = field(default_factory=list)
    """Evaluation only, another benchmark never used to fit anything (SmolLM2: HarmBench)."""
    dev: list[Prompt] = field(default_factory=list)
    """Held out by content from train, direction and eval: where coefficients and the routing
    threshold are chosen (SmolLM2); empty for the organism, whose choices use direction."""

    @property
    def choice(self) -> list[Prompt]:
        """Where choices are made: the dev split, else (the organism, a user set without one)
        the direction split, on which directions and probes are also fit."""
        return choice_split(self.dev + self.direction)

    @property
    def choice_name(self) -> str:
        return choice_split_name(self.dev + self.direction)

    @property
    def probe(self) -> list[Prompt]:
        """Prompts the routing probes may learn from: train + direction, never eval."""
        return self.train + self.direction


def splits_of(prompts: Sequence[Prompt]) -> PromptSplits:
    """Group a prompt set by its `split` field."""
    return PromptSplits(**{s: [p for p in prompts if p.split == s] for s in PROMPT_SPLITS})


def prompt_splits(
    args: argparse.Namespace,
    loaded: LoadedModel,
    user_prompts: Sequence[Prompt] | None = None,
) -> PromptSplits:
    """From `user_prompts` (read from --prompts), else the model's own prompt sets.

    A model without prompt sets of its own (an HF id or directory) needs --prompts: the
    organism's synthetic prompts would silently measure something else.
    """
    if user_prompts is not None:
        prompts = list(user_prompts)
    elif args.prompts:
        prompts = load_jsonl(args.prompts, missing_split="hash")
    elif loaded.prompts is not None:
        prompts = loaded.prompts
    else:
        raise ValueError(
            f"{loaded.spec} has no prompt sets of its own: pass --prompts FILE.jsonl (one JSON "
            'object per line: {"prompt", "kind": harmful|benign|contrast, "category", "split": '
            'direction|eval|train, "answer"}; rows without a split are assigned one by a hash '
            "of the prompt)."
        )
    return splits_of(prompts)


def check_needs(
    splits: PromptSplits,
    needs: Sequence[str],
    source: str,
    *,
    in_splits: Sequence[str] = ("direction", "eval"),
) -> None:
    """Stop with a message naming what is missing, before any model work.

    `needs` lists prompt kinds ("harmful", "contrast", "benign" or alternatives such as
    "benign|contrast") that every split of `in_splits` must contain; harmful prompts must carry
    a category.
    """
    for split in in_splits:
        prompts = getattr(splits, split)
        if not prompts:
            raise ValueError(
                f"The prompt set ({source}) has no {split}-split prompts; this script fits on "
                "the direction split and measures on the eval split. Give rows a 'split' or "
                "leave it out to have one assigned by hash."
            )
        for need in needs:
            kinds = need.split("|")
            ok = [
                p
                for p in prompts
                if p.kind in kinds and (p.kind != "harmful" or p.category is not None)
            ]
            if not ok:
                raise ValueError(
                    f"This script needs {' or '.join(kinds)} prompts in the {split} split of "
                    f"the prompt set ({source})"
                    + (" with a 'category'" if "harmful" in kinds else "")
                    + "; add such rows."
                )


def chosen_layer(
    args: argparse.Namespace, loaded: LoadedModel, splits: PromptSplits
) -> tuple[int, str]:
    """--layer, else the layer sweep's choice (cached per model fingerprint under --artifacts)."""
    if args.layer is not None:
        return args.layer, "given by --layer"
    sweep = cached_layer_sweep(args, loaded, splits)
    return sweep.chosen_layer, sweep.reason


def cached_layer_sweep(
    args: argparse.Namespace, loaded: LoadedModel, splits: PromptSplits
) -> LayerSweepResult:
    fp = loaded.fingerprint
    key = hashlib.sha256(
        json.dumps(
            [fp.to_dict(), [p.prompt for p in splits.direction], args.seed, source_hash()]
        ).encode()
    ).hexdigest()[:16]
    path = Path(args.artifacts) / "layer_sweeps" / f"{key}.json"
    if path.exists():
        try:
            return LayerSweepResult(**json.loads(path.read_text()))
        except TypeError:  # written by an older version of the sweep: recompute
            pass
    result = layer_sweep(loaded.model, splits.direction, seed=args.seed)
    if distributed.is_main():
        write_json(path, result.to_dict())
    return result


def steering_layer(loaded: LoadedModel, *, seed: int = 0, root: str | Path | None = None) -> int:
    """The layer the figures steer at for this model: the layer sweep's choice on its own
    direction split, read from the sweep cache the figures write (computed once otherwise)."""
    if loaded.prompts is None:
        raise ValueError(f"{loaded.spec} has no prompt sets of its own: run layer_sweep on yours.")
    args = argparse.Namespace(
        seed=seed, artifacts=str(default_artifacts() if root is None else root)
    )
    return cached_layer_sweep(args, loaded, splits_of(loaded.prompts)).chosen_layer


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def save(
    args: argparse.Namespace,
    stem: str,
    figure,
    data: dict,
    *,
    loaded: LoadedModel,
    headline: dict | None = None,
    started: float | None = None,
    inputs_key: str | None = None,
) -> Path:
    """Write `stem.png` and `stem.json` (numbers + run record) under --out; print both paths."""
    from mechrefusal.reporting.plotting import save_figure

    out = Path(args.out)
    png = out / f"{stem}.png"
    if not distributed.is_main():  # every rank computed the same numbers; rank 0 writes them
        return png
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{stem}.tmp.png"
    save_figure(figure, tmp)
    tmp.replace(png)
    record = {
        "figure": png.name,
        "script": f"experiments/{stem}.py",
        "model": args.model,  # as the user named it: no store path in a committed record
        "fingerprint": loaded.fingerprint.to_dict(),
        "seed": args.seed,
        "quick": args.quick,
        "prompts": args.prompts,
        "git_sha": git_sha(),
        "source_hash": source_hash(),
        "inputs_key": inputs_key,
        "script_hash": file_hash(script_path(stem)),
        "mechrefusal_version": __version__,
        "wall_seconds": round(time.perf_counter() - started, 1) if started else None,
        "headline": headline or {},
        "data": data,
    }
    write_json(out / f"{stem}.json", record)
    print(f"wrote {png} and {out / f'{stem}.json'}")
    return png


@dataclass
class Run:
    """What every experiment script starts from: options, model, prompt splits and layer."""

    args: argparse.Namespace
    loaded: LoadedModel
    splits: PromptSplits
    layer: int | None
    layer_reason: str | None
    started: float

    def router(self) -> Router:
        """Directions from the direction split, probes from train + direction (never eval)."""
        if self.layer is None:
            raise ValueError("This run was started without a layer.")
        return fit_router(
            self.loaded.model,
            self.splits.direction,
            layer=self.layer,
            probe_prompts=self.splits.probe,
            seed=self.args.seed,
        )

    @cached_property
    def inputs_key(self) -> str:
        """What a figure's numbers depend on besides the code: the model's weights (a checksum
        per parameter), every split's prompts, the layer, seed and batch size. Two records with
        this key and the same source hash measured one model on the same prompts."""
        weights = torch.stack(  # summed in float64 without a float64 copy of each weight
            [p.detach().sum(dtype=torch.float64).cpu() for p in self.loaded.model.parameters()]
        )
        parts = [
            hashlib.sha256(weights.numpy().tobytes()).hexdigest(),
            {
                name: [dataclasses.astuple(p) for p in prompts]
                for name, prompts in vars(self.splits).items()
            },
            self.layer,
            self.args.seed,
            self.args.batch_size,
            self.args.quick,
        ]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]

    def earlier(self, stem: str) -> dict | None:
        """Another script's record in --out, if the same code measured the same model on the
        same prompts (`inputs_key`): its rows can be reused instead of recomputed. None
        otherwise (missing, made by other code, another model or other prompts)."""
        path = Path(self.args.out) / f"{stem}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        if (
            record.get("source_hash") != source_hash()
            or record.get("inputs_key") != self.inputs_key
        ):
            return None
        return record

    def save(self, stem: str, figure, data: dict, *, headline: dict | None = None) -> Path:
        return save(
            self.args,
            stem,
            figure,
            data,
            loaded=self.loaded,
            headline=headline,
            started=self.started,
            inputs_key=self.inputs_key,
        )


def script_path(stem: str) -> Path:
    """The experiment script that writes `stem` (figures record its hash)."""
    return experiments_dir() / f"{stem}.py"


def start(
    doc: str | None,
    argv: list[str] | None,
    *,
    extra=None,
    with_layer: bool = True,
    needs: Sequence[str] = ("harmful", "benign|contrast"),
) -> Run:
    """Parse options, load the model (training the organism on first use), pick splits and layer.

    `needs` (see `check_needs`) is checked before any model work beyond loading. Under
    torchrun the process group is joined here and the model loaded on the rank's device.
    """
    started = time.perf_counter()
    args = parse_args(doc, argv, extra=extra)
    # A user prompt file is read and checked before the model: a bad row must not cost a
    # training run on a fresh clone.
    user_prompts = load_jsonl(args.prompts, missing_split="hash") if args.prompts else None
    if user_prompts is not None:
        check_needs(splits_of(user_prompts), needs, args.prompts)
    distributed.init_from_env(devices_per_rank=args.n_devices, device=args.device)
    args.device = distributed.rank_device(args.device, devices_per_rank=args.n_devices)
    with distributed.main_first():  # rank 0 trains / converts and caches; the others then load
        loaded = load(args)
    use_activation_store(args)
    splits = prompt_splits(args, loaded, user_prompts)
    check_needs(splits, needs, args.prompts or loaded.spec)
    layer, reason = chosen_layer(args, loaded, splits) if with_layer else (None, None)
    return Run(
        args=args, loaded=loaded, splits=splits, layer=layer, layer_reason=reason, started=started
    )
