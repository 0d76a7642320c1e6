"""Toy worlds: synthetic data with known ground truth, training scripts and shipped checkpoints."""
