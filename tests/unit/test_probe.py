import torch

from mechrefusal.artifacts import ModelFingerprint
from mechrefusal.probe import HarmProbe, accuracy, train_harm_probe, train_probe


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
