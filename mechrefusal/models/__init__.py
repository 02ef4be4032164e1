"""Models: the organism's architecture, tokenizer and training, the SmolLM2 conversion and
refusal-token fine-tune, and `load_model`, which returns any of them as a HookedTransformer.
"""
