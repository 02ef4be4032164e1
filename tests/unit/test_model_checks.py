"""What is checked about a model before it is loaded or trained, and errors that name it."""

import json

import pytest


def test_a_layer_the_model_lacks_is_refused_before_any_training(tmp_path):
    """`--layer 99` on a registered model fails at once, naming the model's depth."""
    from mechrefusal.models.loading import check_layer, known_n_layers

    assert known_n_layers("organism") == 4 and known_n_layers("organism:micro") == 2
    assert known_n_layers("smollm2") == 30 and known_n_layers("owner/hub-model") is None
    check_layer("organism:micro", 1)
    with pytest.raises(ValueError, match=r"--layer 99 is out of range: organism has 4 layers"):
        check_layer("organism", 99)
    saved = tmp_path / "hf"
    saved.mkdir()
    (saved / "config.json").write_text(json.dumps({"num_hidden_layers": 6}))
    assert known_n_layers(str(saved)) == 6


def test_a_model_directory_with_a_broken_tokenizer_is_named(tmp_path):
    from mechrefusal.models.loading import _hf_tokenizer
    from mechrefusal.store.artifacts import ArtifactError

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "tokenizer.json").write_text("{not json")
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"})
    )
    with pytest.raises(ArtifactError, match=r"its tokenizer could not be loaded") as caught:
        _hf_tokenizer(str(tmp_path), False)
    assert str(tmp_path) in str(caught.value) and "tokenizer.json" in str(caught.value)
