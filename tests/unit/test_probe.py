import torch

from mechrefusal.analysis.probe import HarmProbe, accuracy, train_harm_probe, train_probe
from mechrefusal.store.artifacts import ModelFingerprint


def test_probe_separates_separable_data():
    x = torch.randn(200, 6)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    probe = train_probe(x, y, n_classes=2)
    assert accuracy(probe, x, y) > 0.95


def test_probe_applies_training_standardisation():
    x = torch.randn(100, 4) * 10 + 50
    y = (x[:, 2] > 50).long()
    probe = train_probe(x, y, n_classes=2)
    assert torch.allclose(probe.mean, x.mean(0))
    assert accuracy(probe, x, y) > 0.9


def test_harm_probe_threshold_respects_fpr(tmp_path):
    harm = torch.randn(300, 5) + torch.tensor([1.5, 0, 0, 0, 0])
    benign = torch.randn(300, 5)
    hp = train_harm_probe(harm, benign, target_fpr=0.05)
    assert hp.held_out_fpr <= 0.1
    fp = ModelFingerprint(model_id="m", d_model=5, n_layers=1, d_vocab=2, tokenizer_hash="t")
    hp.save(tmp_path / "probe", fp, hook="blocks.0.hook_resid_post")
    back = HarmProbe.load(tmp_path / "probe", fp)
    assert torch.equal(back.is_harmful(benign), hp.is_harmful(benign))


def test_threshold_is_calibrated_on_whole_held_out_groups():
    """With groups, no group has rows on both sides of the calibration split, about a quarter
    of the rows are held out, and a wrong number of groups is an error naming the fix."""
    import pytest
    import torch

    from mechrefusal.analysis.probe import group_split_indices, train_harm_probe

    groups = [f"frame/{i % 8}" for i in range(80)]
    train, test = group_split_indices(groups, 0.25, seed=0)
    assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert sorted(train.tolist() + test.tolist()) == list(range(80))
    assert 0.2 <= len(test) / 80 <= 0.4
    assert group_split_indices(groups, 0.25, seed=0)[1].tolist() == test.tolist()
    gen = torch.Generator().manual_seed(0)
    harmful, benign = torch.randn(40, 6, generator=gen) + 2.0, torch.randn(40, 6, generator=gen)
    probe = train_harm_probe(harmful, benign, groups=groups)
    assert 0.0 <= probe.held_out_fpr <= 1.0
    with pytest.raises(ValueError, match="one per row"):
        train_harm_probe(harmful, benign, groups=groups[:-1])
    with pytest.raises(ValueError, match="at least two groups"):
        group_split_indices(["a"] * 5, 0.25, seed=0)
