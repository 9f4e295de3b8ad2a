"""Prompt text: structured specs, style presets, A1111 ⇄ compel weighting, negatives, lint.

Pure logic over text: imports neither discord, torch, compel, nor the queue.
"""
