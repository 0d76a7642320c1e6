"""The Othello world (issue 14, in progress): a bitboard engine for synthetic games of random legal moves."""

from .engine import BLACK, WHITE, Boards, name, random_games, replay, square, squares

__all__ = ["Boards", "square", "name", "squares", "random_games", "replay", "BLACK", "WHITE"]
