"""arcprep: ARC tasks -> validated, augmented, chat-format JSONL datasets."""

__version__ = "0.1.0"
