"""The forward worker's process (model/runtime/forward_worker.py starts it): loads model files in safe
mode and answers (model_file, images, kind) over a pipe: the probabilities, or the digit check's
summaries (`model.analysis.novelty.summaries`). This module imports nothing heavy, so the process
quiets TensorFlow and sets its threads before loading it."""

from __future__ import annotations

from collections import OrderedDict

from model import settings

# Models kept loaded in the worker, most recently used first.
MAX_MODELS = 4


def serve(connection) -> None:
    """The worker process: loads models on demand and answers (model_file, images, kind) with
    probabilities (kind "probabilities") or the digit check's summaries (kind "summaries")."""
    settings.quiet_tensorflow()
    import tensorflow as tf

    # One thread: single images gain nothing from more, and the app's process keeps the cores.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from model.analysis.novelty import summaries
    from model.runtime.inference import Predictor
    from model.store.storage import load_model

    predictors: OrderedDict[str, Predictor] = OrderedDict()
    connection.send(("ready", None))
    while True:
        try:
            model_file, images, kind = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if model_file not in predictors:
                predictors[model_file] = Predictor(load_model(model_file))
                while len(predictors) > MAX_MODELS:
                    predictors.popitem(last=False)
            predictors.move_to_end(model_file)
            predictor = predictors[model_file]
            if kind == "summaries":
                connection.send(("ok", summaries(predictor.model, images)))
            else:
                connection.send(("ok", predictor.probabilities_in_process(images)))
        except Exception as error:  # Reported to the caller, which decides what to do.
            connection.send(("error", f"{type(error).__name__}: {error}"))
