"""Answering for a digit: preprocessing, the in-process `Predictor`, the forward worker (which
owns the rule that small batches go to it) and work in background processes. Imports
`model.store`, never `model.analysis`."""
