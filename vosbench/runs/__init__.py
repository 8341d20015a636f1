"""The run lifecycle: from a model and a dataset to a run folder with predictions, scores and a record."""
