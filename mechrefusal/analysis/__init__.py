"""Mechanistic analyses: activation caching, difference-in-means directions, probes and
geometry, layer sweeps, model diffing, SAE feature views, ablation and patching.
"""
