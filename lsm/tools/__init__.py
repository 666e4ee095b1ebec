"""Inference-time tools that read a trained model's checkpoint and write reports."""
