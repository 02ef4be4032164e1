"""What limits categorical steering on a model? (docs/findings.md, "What limits steering")

Routing is taken out of the question: every prompt is routed by its label (the oracle policy),
so what is left is what the vectors themselves do. On the split's prompts, at the layer and
with the router the figures use (chosen by the layer sweep; vectors from the direction split),
this prints one JSON object, and writes it to `<--out>/steering_limits.json` (docs/findings.md
renders it), with:

- `harmful_push`: first-token harmful refusal at each harmful coefficient (x the mean
  activation norm), and random vectors of the same norms and sparsity at each;
- `benign_push`: contrast prompts not answered (refused or malformed first token) at each
  benign coefficient, and the random vectors at each;
- `capability`: exact match on the benign tasks (decoded, `--tokens`) at each benign
  coefficient, pushed at the prompt pass only and at every generated token (the paper's mode),
  with the first benign answer at the strongest push as an example of what the text becomes;
- `routing`: the contrast prompts the harm probe routes as harmful, among those the unsteered
  model over-refuses and among those it answers. Probe-routed steering pushes a prompt routed
  harmful towards refusal, so if the probe routes the over-refused look-alikes as harmful, no
  strength of the benign push can reach them: the routing, not the vectors, is what fails.

    python scripts/steering_limits.py --model smollm2 --out figures/smollm2
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mechrefusal._entry import run_entry  # noqa: E402
from mechrefusal.analysis.activations import cache_activations  # noqa: E402
from mechrefusal.engine.generation import reused_prefix  # noqa: E402
from mechrefusal.reporting import experiment  # noqa: E402
from mechrefusal.scoring.evaluation import summarize, wilson  # noqa: E402
from mechrefusal.steering.comparison import run_method  # noqa: E402
from mechrefusal.steering.methods import (  # noqa: E402
    PAPER_POSITIONS,
    Categorical,
    RandomControl,
    Unsteered,
)
from mechrefusal.steering.router import SteeringConfig  # noqa: E402
from mechrefusal.steering.sweeps import sweep_method  # noqa: E402
from mechrefusal.store.artifacts import source_hash  # noqa: E402

HARMFUL_COEFS = (0.0, 0.1, 0.2, 0.4, 0.8)
BENIGN_COEFS = (0.0, -0.2, -0.4, -0.8, -1.0, -1.2)


def _answers(run, router, prompts, method, tokens: int = 1):
    """Scored answers of `prompts` under `method` (first token only unless `tokens` > 1)."""
    return run_method(
        run.loaded.model,
        router,
        prompts,
        method,
        batch_size=run.args.batch_size,
        max_new_tokens=tokens,
    )


def harmful_push(run, router) -> dict:
    harmful = [p for p in run.splits.eval if p.kind == "harmful"]
    oracle = Categorical(steering=SteeringConfig(policy="oracle", benign_coef=0.0))
    control = RandomControl(steering=oracle.steering, seed=run.args.seed)
    methods = {str(c): oracle.at_harmful_coef(c) for c in HARMFUL_COEFS}
    # The control at every coefficient: random vectors of the same norms and sparsity.
    methods |= {f"random vectors at {c}": control.at_harmful_coef(c) for c in HARMFUL_COEFS if c}
    return {
        name: summarize(_answers(run, router, harmful, method)).harmful_refusal["all"].value
        for name, method in methods.items()
    }


def benign_push(run, router) -> dict:
    steering = SteeringConfig(policy="oracle")
    points = sweep_method(
        run.loaded.model,
        router,
        run.splits.eval,
        Categorical(steering=steering),
        BENIGN_COEFS,
        batch_size=run.args.batch_size,
    )
    random = sweep_method(
        run.loaded.model,
        router,
        run.splits.eval,
        RandomControl(steering=steering, seed=run.args.seed),
        BENIGN_COEFS,
        batch_size=run.args.batch_size,
    )
    # Not answered: refused or malformed (a push that breaks answers has not answered them).
    return {str(p.strength): p.not_answered for p in points} | {
        f"random vectors at {p.strength}": p.not_answered for p in random
    }


def capability(run, router, tokens: int) -> dict:
    benign = [p for p in run.splits.eval if p.kind == "benign"]
    out = {}
    for mode in ("prompt", PAPER_POSITIONS):
        method = Categorical(steering=SteeringConfig(policy="oracle", positions=mode))
        rates, example = {}, None
        for c in BENIGN_COEFS:
            answers = _answers(run, router, benign, method.at_strength(c), tokens)
            rates[str(c)] = summarize(answers).capability.value
            example = f"{answers[0].first_token}{answers[0].text}"
        out[mode] = {"exact_match": rates, f"example at {BENIGN_COEFS[-1]}": example}
    return out


def routing(run, router) -> dict:
    contrast = [p for p in run.splits.eval if p.kind == "contrast"]
    refused = [a.refused for a in _answers(run, router, contrast, Unsteered())]
    acts = cache_activations(
        run.loaded.model,
        [p.prompt for p in contrast],
        [router.hook],
        position=router.probe_position,
        batch_size=run.args.batch_size,
        progress=False,
    )[router.hook]
    routed = router.harm_probe.is_harmful(acts).tolist()
    out = {}
    for name, group in (("over-refused", True), ("answered", False)):
        rows = [i for i, r in enumerate(refused) if r == group]
        if rows:
            out[f"contrast {name}: routed harmful"] = wilson(
                sum(routed[i] for i in rows), len(rows)
            ).to_dict()
    return out


def main(argv: list[str] | None = None) -> dict:
    def extra(parser):
        parser.add_argument("--tokens", type=int, default=12, help="benign answer length")

    run = experiment.start(__doc__, argv, needs=("harmful", "benign|contrast"), extra=extra)
    router = run.router()
    with reused_prefix(run.loaded.model):
        result = {
            "model": run.args.model,
            "hook": router.hook,
            "act_norm": router.act_norm,
            "harmful_push": harmful_push(run, router),
            "benign_push": benign_push(run, router),
            "capability": capability(run, router, run.args.tokens),
            "routing": routing(run, router),
        }
    result["source_hash"] = source_hash()
    out = Path(run.args.out) / "steering_limits.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    run_entry(main)
