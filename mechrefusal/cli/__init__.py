"""The `mechrefusal` command: `figures` (regenerate the paper's figures), `eval` (rates of a
model on a JSONL of prompts) and `chat` (talk to a model and watch the router decide).
"""
