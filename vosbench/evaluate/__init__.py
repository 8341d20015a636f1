"""Folder evaluators, one per benchmark: score a folder of predictions against a dataset's ground truth."""
