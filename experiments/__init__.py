"""The experiment matrix: train and evaluate every run behind the four questions."""
