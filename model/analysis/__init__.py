"""Looking inside a model: the per-model graph and its activations, attributions and one
unit's arithmetic, how sure a prediction is, what channels detect, projections, robustness, evaluation and the check
that an input looks like a digit. Pure `(model, input) -> arrays` functions; imports
`model.store` and `model.runtime`."""
