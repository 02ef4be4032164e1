import pytest
import torch

from mechrefusal.analysis.directions import (
    DirectionSet,
    cosine_matrix,
    diff_in_means,
    directions_from_activations,
    paired_diff_in_means,
    resolve_k,
    shared_top_features,
    sparsify,
)
from mechrefusal.store.artifacts import ArtifactError, ModelFingerprint


def test_diff_in_means_matches_loop():
    h, b = torch.randn(7, 16), torch.randn(5, 16)
    expected = torch.zeros(16, dtype=torch.float64)
    for row in h:
        expected += row.double() / 7
    for row in b:
        expected -= row.double() / 5
    assert torch.allclose(diff_in_means(h, b).double(), expected, atol=1e-6)


def test_paired_matches_loop_and_refuses_unpaired_rows():
    a, r = torch.randn(6, 8), torch.randn(6, 8)
    loop = sum((a[i] - r[i]).double() for i in range(6)) / 6
    assert torch.allclose(paired_diff_in_means(a, r).double(), loop, atol=1e-6)
    with pytest.raises(ValueError, match="one row per prompt in both"):
        paired_diff_in_means(a, r[:5])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_sparsify_k_nonzeros_unit_norm(k):
    v = torch.randn(32)
    s = sparsify(v, k=k, tau=0.0)
    assert int((s != 0).sum()) == k
    assert torch.isclose(s.norm(), torch.tensor(1.0))
    kept = s.nonzero().flatten()
    assert set(kept.tolist()) == set(v.abs().topk(k).indices.tolist())
    assert torch.all(torch.sign(s[kept]) == torch.sign(v[kept]))


def test_sparsify_tau_drops_small_entries():
    v = torch.tensor([1.0, 0.5, 1e-4, -2e-4, 0.0, 0.0])
    s = sparsify(v, k=4, tau=1e-3)
    assert int((s != 0).sum()) == 2


def test_sparsify_errors():
    with pytest.raises(ValueError, match="k must be in"):
        sparsify(torch.randn(8), k=9)
    with pytest.raises(ValueError, match="below tau"):
        sparsify(torch.full((8,), 1e-5), k=2, tau=1e-3)


def test_cosine_matrix_matches_loop():
    x = torch.randn(4, 10)
    m = cosine_matrix(x)
    for i in range(4):
        for j in range(4):
            assert torch.isclose(
                m[i, j], torch.nn.functional.cosine_similarity(x[i], x[j], dim=0), atol=1e-5
            )


def test_resolve_k():
    assert resolve_k(4096) == 200
    assert resolve_k(128) == 32 and resolve_k(16) == 16  # floor, capped at d_model
    assert resolve_k(100, k_fraction=0.1) == 10
    with pytest.raises(ValueError, match="not both"):
        resolve_k(10, k=2, k_fraction=0.5)


def test_shared_top_features():
    v = torch.zeros(3, 6)
    v[:, 2] = 0.5
    v[0, 4] = 0.9
    feats, vals = shared_top_features(v, 2)
    assert feats[0] == 2 and vals[0][0] == 0.5


def _fp(d_model=8, tok="abc"):
    return ModelFingerprint(
        model_id="m", d_model=d_model, n_layers=2, d_vocab=10, tokenizer_hash=tok
    )


def _set(d_model=8):
    harmful = {"safety": torch.randn(5, d_model) + 1, "humanizing": torch.randn(5, d_model) - 1}
    return directions_from_activations(
        harmful, torch.randn(6, d_model), hook="blocks.0.hook_resid_post", layer=0, k=3
    )


def test_direction_set_roundtrip_and_mismatch(tmp_path):
    ds = _set()
    assert ds.categories == ("humanizing", "safety")  # CATEGORIES order, not insertion order
    ds.save(tmp_path / "dirs", _fp())
    back = DirectionSet.load(tmp_path / "dirs", _fp())
    assert torch.equal(back.sparse, ds.sparse) and back.hook == ds.hook
    with pytest.raises(ArtifactError, match="tokenizer_hash"):
        DirectionSet.load(tmp_path / "dirs", _fp(tok="other"))
    with pytest.raises(ArtifactError, match="d_model"):
        DirectionSet.load(tmp_path / "dirs", _fp(d_model=16))


def test_direction_set_unknown_category():
    with pytest.raises(ValueError, match="No direction for 'incomplete'"):
        _set().vector("incomplete")


def test_paired_direction_set_and_empty_error():
    from mechrefusal.analysis.directions import paired_directions_from_activations

    a, r = torch.randn(6, 8), torch.randn(6, 8)
    ds = paired_directions_from_activations({"safety": a}, {"safety": r}, hook="h", layer=0, k=3)
    assert torch.allclose(ds.dense[0], paired_diff_in_means(a, r))
    assert int((ds.sparse[0] != 0).sum()) == 3
    with pytest.raises(ValueError, match="Empty prompt set"):
        paired_directions_from_activations({}, {}, hook="h", layer=0, k=3)
