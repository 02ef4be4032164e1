"""Prompt data: the organism's synthetic world and templates, the real prompt sets read from
wheels, and the chat formatting every model input goes through.
"""
