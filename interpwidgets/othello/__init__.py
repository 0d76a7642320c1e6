"""Othello-GPT (Li et al. 2023): board probes, edits of the model's internal board, latent saliency, and the
OthelloView."""

from .method import (
    CLASS_NAMES,
    ENCODINGS,
    Benchmark,
    BoardProbes,
    FlipEdit,
    board_labels,
    fit_board_probes,
    flip_targets,
    flipped_board,
    intervention_benchmark,
    intervention_errors,
    last_move_logits,
    latent_saliency,
    predicted_set_errors,
    random_init,
    residuals,
)

__all__ = ["ENCODINGS", "CLASS_NAMES", "BoardProbes", "Benchmark", "FlipEdit", "board_labels", "residuals",
           "fit_board_probes", "random_init", "last_move_logits", "predicted_set_errors", "intervention_benchmark",
           "intervention_errors", "latent_saliency", "flipped_board", "flip_targets", "OthelloView"]


def __getattr__(name: str):
    if name == "OthelloView":  # the widget: imported on first use (it needs anywidget)
        from .widget import OthelloView

        return OthelloView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
