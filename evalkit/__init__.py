"""evalkit: predict the test outputs of an ARC split with a base model + LoRA adapter, vote, score, report."""

__version__ = "0.1.0"
