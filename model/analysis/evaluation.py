"""Evaluating a model on labelled digits: accuracy, confusion matrix, per-class metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.architecture import NUM_CLASSES
from model.runtime.inference import Predictor
from model.runtime.preprocess import from_uint8


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    # Rows are true digits, columns predicted digits.
    confusion: np.ndarray
    # (N, 10) class probabilities, in the order of the images.
    probabilities: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    # Per class (10,): precision, recall, F1 and the number of true examples.
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def errors(self) -> int:
        return int(np.sum(self.predictions != self.labels))

    def most_confused(self, count: int = 10) -> list[tuple[int, int, int]]:
        """The largest off-diagonal cells as (true, predicted, count), most frequent first."""
        off_diagonal = self.confusion * (1 - np.eye(NUM_CLASSES, dtype=self.confusion.dtype))
        order = np.argsort(-off_diagonal, axis=None, kind="stable")[:count]
        pairs = [(int(i // NUM_CLASSES), int(i % NUM_CLASSES), int(off_diagonal.flat[i])) for i in order]
        return [pair for pair in pairs if pair[2] > 0]

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the images with this true and predicted digit, least confident first."""
        indices = np.flatnonzero((self.labels == true) & (self.predictions == predicted))
        confidence = self.probabilities[indices, predicted]
        return indices[np.argsort(confidence, kind="stable")]


def evaluation_from_probabilities(labels: np.ndarray, probabilities: np.ndarray) -> Evaluation:
    """All metrics from true labels and predicted probabilities; a class never predicted scores 0, not NaN."""
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES or len(probabilities) != len(labels):
        raise ValueError(
            f"Expected (N, {NUM_CLASSES}) probabilities for {len(labels)} labels, got {probabilities.shape}."
        )
    if len(labels) == 0:
        raise ValueError("Nothing to evaluate: no labelled images.")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError("Labels must be digits 0-9.")
    predictions = probabilities.argmax(axis=1)
    confusion = np.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2)
    confusion = confusion.reshape(NUM_CLASSES, NUM_CLASSES)
    correct = np.diag(confusion).astype(np.float64)
    predicted_counts, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(correct, predicted_counts, out=np.zeros(NUM_CLASSES), where=predicted_counts > 0)
    recall = np.divide(correct, support, out=np.zeros(NUM_CLASSES), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(NUM_CLASSES), where=total > 0)
    return Evaluation(
        accuracy=float(correct.sum() / len(labels)),
        confusion=confusion,
        probabilities=probabilities,
        labels=labels,
        predictions=predictions,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
    )


def evaluate(predictor: Predictor, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Evaluates a predictor on uint8 images and labels as `load_mnist` returns them."""
    return evaluation_from_probabilities(y, predictor.probabilities(from_uint8(x)))
