"""The truthful world (ITI): questions with a true answer and a misconception, a GPT that often lies."""

from .data import World, make_world, qa

__all__ = ["World", "make_world", "qa"]
