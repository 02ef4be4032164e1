import pytest
import torch

from mechrefusal.store.artifacts import (
    ArtifactError,
    ModelFingerprint,
    load_artifact,
    save_artifact,
)

FP = ModelFingerprint(model_id="m", d_model=4, n_layers=1, d_vocab=3, tokenizer_hash="h")


def test_roundtrip(tmp_path):
    save_artifact(
        tmp_path / "a", {"x": torch.ones(4)}, kind="thing", metadata={"layer": 2}, fingerprint=FP
    )
    tensors, meta = load_artifact(tmp_path / "a", kind="thing", fingerprint=FP)
    assert torch.equal(tensors["x"], torch.ones(4)) and meta["layer"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_wrong_kind_and_missing(tmp_path):
    save_artifact(tmp_path / "a", {"x": torch.ones(4)}, kind="thing", metadata={})
    with pytest.raises(ArtifactError, match="expected 'other'"):
        load_artifact(tmp_path / "a", kind="other")
    with pytest.raises(ArtifactError, match="No artifact metadata"):
        load_artifact(tmp_path / "nope", kind="thing")


def test_corrupt_files(tmp_path):
    save_artifact(tmp_path / "a", {"x": torch.ones(4)}, kind="thing", metadata={})
    (tmp_path / "a.safetensors").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="Corrupt tensor file"):
        load_artifact(tmp_path / "a", kind="thing")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="Corrupt artifact metadata"):
        load_artifact(tmp_path / "a", kind="thing")


def test_refuses_nan_and_writes_nothing(tmp_path):
    with pytest.raises(ArtifactError, match="NaN or inf"):
        save_artifact(
            tmp_path / "a", {"x": torch.tensor([float("nan")])}, kind="thing", metadata={}
        )
    assert not list(tmp_path.iterdir())


def test_fingerprint_mismatch(tmp_path):
    save_artifact(tmp_path / "a", {"x": torch.ones(4)}, kind="thing", metadata={}, fingerprint=FP)
    other = ModelFingerprint(model_id="m", d_model=8, n_layers=1, d_vocab=3, tokenizer_hash="h")
    with pytest.raises(ArtifactError, match="d_model is 4 in the artifact but 8"):
        load_artifact(tmp_path / "a", kind="thing", fingerprint=other)
