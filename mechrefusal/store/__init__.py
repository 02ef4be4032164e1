"""On-disk artifacts (safetensors + JSON metadata, checked against the model on load) and the
activation, residual and low-rank stores that let figures share work.
"""
