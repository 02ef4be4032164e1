"""Low-rank whitened steering, ridge directions and the cross-category matrix on the micro organism."""

from dataclasses import replace

import pytest
import torch

from mechrefusal.data.prompts import select
from mechrefusal.steering.comparison import compare_methods
from mechrefusal.steering.lowrank import LowRankConfig, train_low_rank
from mechrefusal.steering.matrices import cross_category_matrix
from mechrefusal.steering.methods import Categorical, low_rank_method, ridge_method
from mechrefusal.steering.router import fit_router
from mechrefusal.steering.sweeps import half_removal_coef


@pytest.fixture(scope="module")
def direction(micro):
    return select(micro.prompts, split="direction")


@pytest.fixture(scope="module")
def router(micro, direction):
    return fit_router(micro.model, direction, layer=1, progress=False)


def _residual_outside(vector, basis_rows):
    """Norm of the part of `vector` outside span(basis_rows), relative to its norm."""
    q, _ = torch.linalg.qr(basis_rows.double().T)
    v = vector.double()
    return float((v - q @ (q.T @ v)).norm() / v.norm())


def test_unwhitened_low_rank_vector_is_a_combination_of_the_category_vectors(
    micro, router, direction
):
    config = LowRankConfig(steps=25, batch_size=16)
    right = train_low_rank(
        micro.model, router.directions, direction, direction, config, progress=False
    )
    # Mapped back from whitened coordinates: inside span(v_1..v_K). The original's vector (Q a
    # added as it is) lies in span(W v_1..W v_K) instead, which is another subspace.
    assert _residual_outside(right.vector, router.directions.sparse) < 1e-4
    bug = train_low_rank(
        micro.model,
        router.directions,
        direction,
        direction,
        replace(config, unwhiten=False),
        progress=False,
    )
    assert _residual_outside(bug.vector, router.directions.sparse) > 0.1
    assert right.final_loss < right.start_loss  # over all training prompts
    again = train_low_rank(
        micro.model, router.directions, direction, direction, config, progress=False
    )
    assert torch.equal(right.vector, again.vector)  # seeded, deterministic


def test_a_trained_low_rank_vector_is_read_back_from_the_store(
    micro, router, direction, tmp_path, monkeypatch
):
    """Figures 08 and 13 train the same vector: the second reads what the first stored."""
    from mechrefusal.steering import lowrank
    from mechrefusal.store.activation_store import ActivationStore, set_default_store

    set_default_store(ActivationStore(tmp_path))
    config = LowRankConfig(steps=3, batch_size=16)
    first = train_low_rank(micro.model, router.directions, direction, direction, config)
    trainings = []
    real_train = lowrank._train
    monkeypatch.setattr(
        lowrank, "_train", lambda *args: trainings.append(args) or real_train(*args)
    )
    again = train_low_rank(micro.model, router.directions, direction, direction, config)
    assert trainings == []
    assert torch.equal(again.vector, first.vector) and again.losses == first.losses
    assert again.summary() == first.summary()
    # Another config or other training prompts are another training.
    train_low_rank(micro.model, router.directions, direction, direction, replace(config, lr=0.1))
    train_low_rank(micro.model, router.directions, direction, direction[1:], config)
    assert len(trainings) == 2


def test_a_stored_low_rank_vector_made_for_another_training_is_refused(
    micro, router, direction, tmp_path
):
    import json

    from mechrefusal.store.activation_store import ActivationStore, set_default_store
    from mechrefusal.store.artifacts import ArtifactError

    set_default_store(ActivationStore(tmp_path))
    config = LowRankConfig(steps=2, batch_size=16)
    train_low_rank(micro.model, router.directions, direction, direction, config, progress=False)
    (meta_path,) = (tmp_path / "lowrank").glob("*.json")
    meta = json.loads(meta_path.read_text())
    meta["identity"]["hook"] = "blocks.0.hook_resid_post"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="another batch or model"):
        train_low_rank(micro.model, router.directions, direction, direction, config)


def test_estimators_plug_into_the_same_routing(micro, router, direction):
    e = select(micro.prompts, split="eval")
    prompts = [p for p in e if p.kind == "harmful"][:6] + [p for p in e if p.kind == "contrast"][:6]
    low_rank, trained = low_rank_method(micro.model, router, direction, LowRankConfig(steps=5))
    ridge = ridge_method(micro.model, router, direction)
    assert ridge.directions.metadata["method"] == "ridge"
    assert set(ridge.directions.metadata["alpha"]) == {*router.directions.categories, "global"}
    results = compare_methods(micro.model, router, prompts, [low_rank, ridge], progress=False)
    described = [r.to_dict() for r in results]
    assert [d["vectors"] for d in described] == ["low-rank", "ridge"]
    rows = low_rank.router_for(router).directions.sparse
    assert torch.allclose(rows, rows[0].expand_as(rows))  # one vector, whatever the category
    assert torch.isclose(rows[0].norm(), torch.tensor(1.0))
    elsewhere = replace(ridge.directions, hook="blocks.0.hook_resid_post")
    with pytest.raises(ValueError, match="blocks.0"):
        Categorical(directions=elsewhere).router_for(router)


def test_cross_category_matrix_shapes_and_zero_push_is_the_baseline(micro, router):
    e = select(micro.prompts, split="eval")
    result = cross_category_matrix(micro.model, router, e, progress=False)
    k = len(router.directions.categories)
    assert len(result.removed_refusal) == k and all(
        len(r) == len(result.categories) for r in result.removed_refusal
    )
    zero = cross_category_matrix(
        micro.model, router, e, remove_coef=0.0, add_coef=0.0, progress=False
    )
    for row in zero.removed_refusal:
        assert row == zero.baseline_refusal
    assert zero.added_token == zero.baseline_token
    assert result.removed_refusal != zero.removed_refusal  # a push of -1.2 norms changes something
    assert set(result.specificity()) <= set(result.vectors)


def test_half_removal_coef_is_the_weakest_grid_step_removing_half_the_own_refusal(
    micro, router, direction
):
    grid = (0.0, -0.25, -0.5, -1.0, -2.0)
    coef = half_removal_coef(micro.model, router, direction, grid=grid)
    assert coef in grid and coef < 0

    def own_share_removed(c: float) -> float:
        m = cross_category_matrix(micro.model, router, direction, remove_coef=c, progress=False)
        shares = [
            (m.baseline_refusal[j] - m.removed_refusal[m.vectors.index(cat)][j])
            / m.baseline_refusal[j]
            for j, cat in enumerate(m.categories)
            if m.baseline_refusal[j] > 0
        ]
        return sum(shares) / len(shares)

    weaker = [c for c in grid if coef < c < 0]
    assert own_share_removed(coef) >= 0.5 or coef == min(grid)
    assert all(own_share_removed(c) < 0.5 for c in weaker)
    with pytest.raises(ValueError, match="no negative strength"):
        half_removal_coef(micro.model, router, direction, grid=(0.0, 0.5))
