"""Pieces every training stage shares: run directories, metrics, checkpoints and the optimisation loop."""
