"""The `mechrefusal` console script: argument parsing and dispatch to the subcommands."""

import argparse

from mechrefusal._entry import run_entry
from mechrefusal._names import EXPORT_METHODS, REGISTERED_MODELS, STEERING_PRESETS
from mechrefusal._paths import default_artifacts
from mechrefusal._progress import set_progress

PRESET_HELP = (
    "steering coefficients: tuned on the model's choice split (dev where it has one; computed "
    "once, kept in the artifact store; figure 07's tuned mode) or the paper's +0.8 / -1.2 at "
    "every token"
)


def _model_options(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--model",
        default=None if required else "organism",
        required=required,
        help=f"{', '.join(REGISTERED_MODELS)}, a saved model directory, or a Hugging Face Llama id/dir",
    )
    parser.add_argument(
        "--artifacts",
        default=str(default_artifacts()),
        help="artifact store: trained models, activation caches (default: $MECHREFUSAL_ARTIFACTS, "
        "else the checkout's artifacts/)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layer", type=int, default=None, help="steering layer (default: swept)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mechrefusal",
        description="Mechanistic analysis and control of categorical refusal.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    figures = sub.add_parser(
        "figures",
        help="regenerate the figures (all models, or one with --model)",
        description="Without --model: the full job (organism, SmolLM2, instruct baseline, "
        "results table). Unknown options go to every experiment script.",
    )
    figures.add_argument("--model", default=None, help="one model's figures only")
    figures.add_argument("--quick", action="store_true", help="micro organism smoke run")
    figures.add_argument(
        "--only",
        metavar="NN,NN",
        default=None,
        help="run only these experiment scripts, by number (e.g. 00,07); their entries replace theirs in the output directory's MANIFEST.json",
    )
    figures.add_argument(
        "--out", default=None, help="output directory (with --model or --quick; default figures/)"
    )

    evaluate = sub.add_parser("eval", help="rates of a model on a JSONL of prompts, with CIs")
    _model_options(evaluate)
    evaluate.add_argument("--prompts", required=True, help="JSONL file, one prompt per line")
    evaluate.add_argument(
        "--steer",
        action="store_true",
        help="also answer every scored row under probe-routed steering (router and coefficients "
        "from the model's own prompt sets)",
    )
    evaluate.add_argument("--preset", choices=STEERING_PRESETS, default="tuned", help=PRESET_HELP)
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--max-new-tokens", type=int, default=12)
    evaluate.add_argument("--json", default=None, help="also write the rates to this JSON file")
    evaluate.add_argument(
        "--per-prompt",
        default=None,
        metavar="FILE",
        help="also write one JSON line per scored row: its answers (first token, text, refused, "
        "malformed, correct) and, with --steer, the router's decision and the steered answer",
    )

    chat = sub.add_parser("chat", help="talk to a model; see the router's decision first")
    _model_options(chat)
    chat.add_argument("--no-steer", action="store_true", help="answer unsteered")
    chat.add_argument("--compare", action="store_true", help="also print the unsteered answer")
    chat.add_argument("--preset", choices=STEERING_PRESETS, default="tuned", help=PRESET_HELP)
    chat.add_argument(
        "--harmful-coef",
        type=float,
        default=None,
        help="override the preset's push on prompts routed harmful (x the mean residual norm)",
    )
    chat.add_argument(
        "--benign-coef",
        type=float,
        default=None,
        help="override the preset's push on the other prompts (x the mean residual norm)",
    )
    chat.add_argument("--max-new-tokens", type=int, default=32)

    export = sub.add_parser(
        "export",
        help="write a weight-edited model as a Hugging Face checkpoint",
        description="Edit the model's weights with a router-free method and save it as a "
        "Hugging Face LlamaForCausalLM (safetensors) that transformers and --model OUT load.",
    )
    _model_options(export)
    export.add_argument(
        "--method",
        choices=EXPORT_METHODS,
        required=True,
        help="false-refusal: Wang et al.'s false-refusal vector ablation, written into the weights",
    )
    export.add_argument(
        "--lam",
        type=float,
        default=None,
        help="share of the true refusal direction orthogonalised out of the false-refusal one "
        "(0-1; default: chosen with the layer on the model's choice split)",
    )
    export.add_argument("--batch-size", type=int, default=32)
    export.add_argument("out", help="new output directory")
    return parser


def main(argv: list[str]) -> object:
    """Parse `argv` and run its subcommand; each subcommand's module (torch, TransformerLens)
    is imported only once the arguments have parsed."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "figures":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.no_progress:
        set_progress(False)
    if args.command == "figures":
        from mechrefusal.cli.figures import run_figures

        if args.only is not None:
            rest = ["--only", args.only, *rest]
        if args.out is not None:
            rest = ["--out", args.out, *rest]
        return run_figures(rest, model=args.model, quick=args.quick)
    if args.command == "eval":
        from mechrefusal.cli.evaluate import run_eval

        return run_eval(args)
    if args.command == "export":
        from mechrefusal.cli.export import run_export

        return run_export(args)
    from mechrefusal.cli.chat import run_chat

    return run_chat(args)


def console() -> None:
    """Entry point of the `mechrefusal` console script (pyproject `[project.scripts]`)."""
    run_entry(main, prog="mechrefusal")
