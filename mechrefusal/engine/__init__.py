"""Inference machinery below the analyses: hook names, generation with the KV cache, the shared
chat-header prefix, and the attention / weight tricks that make CPU runs fast.
"""
