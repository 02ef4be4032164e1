"""Turning answers into numbers: refusal by first token and by text, rates with Wilson
intervals, and the refusal scorers (token mass, LLM judge) compared in figure 12.
"""
