"""Retrain: settings in the sidebar, training in the background with live curves, and model versions."""

import contextlib
import time

import streamlit as st

from model.store.my_digits import FolderStore, dataset_dir
from model.store.registry import (
    ModelUnavailable,
    ModelVersion,
    RegistryFull,
    get_version,
)
from model.store.schemas import JobStatus
from model.store.snapshots import Snapshots
from pages.ui.access import may_manage, public_mode, refuse_unless_manager
from pages.ui.data import mnist_train_set
from pages.ui.figures.training import curves_caption, training_curves
from pages.ui.models import chosen_model, version_name
from pages.ui.routing import guarded
from pages.ui.snapshot_view import accuracy_metric, learning_view, progress_line
from pages.ui.state import MY_DIGITS_SESSION, current_digit
from pages.ui.sweep_panel import show_sweep, sweep_section
from pages.ui.training_settings import settings_sidebar
from pages.ui.versions_panel import compare_section, upload_section, versions_section
from training.config import (
    AUGMENTATIONS,
    MIN_DIGITS,
    FineTuneConfig,
    TrainConfig,
    saved_config,
)
from training.jobs import JobBusy, JobRunner
from training.pipeline import augment_preview
from training.progress import progress


def own_drawing():
    """The visitor's current digit when they drew or uploaded it (not a test digit): the run watches it learn."""
    digit = current_digit()
    return digit.image if digit is not None and digit.label is None else None


def start_training(runner: JobRunner, config: TrainConfig | None) -> None:
    """Starts a background run, or says in the sidebar why not."""
    if not may_manage():
        st.sidebar.error("Training is for the operator while the app runs in public mode; nothing was started.")
        return
    if config is None:
        st.sidebar.error("Fix the settings above first; nothing was started.")
        return
    try:
        with st.spinner("Starting the training process..."):
            runner.start(config, drawing=own_drawing())
        st.toast("Training started in the background.")
    except (JobBusy, RegistryFull) as error:
        st.sidebar.warning(str(error))
    except (RuntimeError, OSError, ValueError) as error:
        st.sidebar.error(f"Training could not start: {error}")


def fine_tune_sidebar(runner: JobRunner, version: ModelVersion) -> None:
    """Fine-tuning the version this visitor looks at on MNIST plus the digits kept on the server
    (for a public visitor, folded away under one line: they cannot start it)."""
    manager = may_manage()
    with st.sidebar, contextlib.nullcontext() if manager else st.expander("Fine-tuning (operator)"):
        if manager:
            st.header("Fine-tune on your digits")
        folder = dataset_dir()
        count = FolderStore(folder).count()
        if public_mode() and not manager:
            # A public visitor's own digits stay in their session: fine-tuning uses the server's.
            own = st.session_state.get(MY_DIGITS_SESSION)
            kept = own.count() if own is not None else 0
            whose = f"the operator's digits on this server ({count} kept there)"
            plural = kept != 1
            yours = (
                f"The {kept} digit{'s' if plural else ''} you kept {'stay' if plural else 'stays'} in your "
                f"session and {'are' if plural else 'is'} not used. "
                if kept
                else ""
            )
        else:
            digits = f"{count} digit{'s' if count != 1 else ''}"
            whose, yours = f"the {digits} kept on this server (the My digits page)", ""
        st.caption(
            f"Starts from the version chosen above ({version_name(version.id)}) and trains on MNIST with "
            f"{whose} mixed in, a fifth of them held aside to measure on. "
            + yours
            + (f"It needs at least {MIN_DIGITS} kept digits. " if count < MIN_DIGITS else "")
            + ("" if manager else "Fine-tuning is for the operator while the app runs in public mode.")
        )
        epochs = st.number_input("Fine-tuning epochs", 1, 5, FineTuneConfig().epochs, key="retrain_finetune_epochs")
        pressed = st.button(
            "Fine-tune on MNIST + kept digits",
            key="retrain_finetune",
            width="stretch",
            disabled=not may_manage() or count < MIN_DIGITS,
        )
    if pressed and refuse_unless_manager("Fine-tuning"):
        try:
            runner.start_fine_tune(version, folder, FineTuneConfig(epochs=int(epochs)), drawing=own_drawing())
        except (JobBusy, RegistryFull, ValueError) as error:
            st.sidebar.warning(str(error))
            return
        except (RuntimeError, OSError) as error:
            st.sidebar.error(f"Fine-tuning could not start: {error}")
            return
        st.toast("Fine-tuning started in the background.")


def job_panel(runner: JobRunner) -> None:
    """The last run's status. While a run is active the panel polls its status every second
    (in any tab, after any reload); otherwise it is drawn once and costs nothing."""
    status = runner.status()
    if status is not None and status.is_active:
        live_job_panel(runner)
    else:
        show_job(runner, status)


@st.fragment(run_every=1.0)
@guarded()
def live_job_panel(runner: JobRunner) -> None:
    status = runner.status()
    if status is None or not status.is_active:
        # The run ended: refresh the whole page, so the version list shows it and polling stops.
        st.rerun(scope="app")
    show_job(runner, status)


def live_view(runner: JobRunner, status: JobStatus) -> None:
    """The run's latest snapshot: its filters, the probe digits' answers and the accuracy so far."""
    try:
        snapshots = Snapshots.from_arrays(runner.live(status) or {})
    except ValueError:
        st.caption("The network's first snapshot appears here once the run has loaded its data.")
        return
    top = st.columns([3, 1])
    top[0].markdown(
        f"**The network so far**, at its latest snapshot: {progress_line(snapshots, 0)[0].lower()}"
        f"{progress_line(snapshots, 0)[1:]} Snapshots come often early in a run and further apart later."
    )
    accuracy_metric(snapshots, 0, top[1])
    learning_view(snapshots, 0, "retrain_live", clickable=False)
    st.caption("When the run ends, How it learned replays all of its snapshots.")


def _deleted(version_id: str) -> bool:
    """Whether a version a run made is gone from the registry (deleted since)."""
    try:
        get_version(version_id)
    except ModelUnavailable:
        return True
    return False


# What one epoch's figures are called, when a run has only one.
EPOCH_FIGURES = (
    ("loss", "training loss"),
    ("accuracy", "training accuracy"),
    ("val_loss", "validation loss"),
    ("val_accuracy", "validation accuracy"),
)


def show_job(runner: JobRunner, status: JobStatus | None) -> None:
    """Progress, live curves and Cancel for an active run; the outcome of a finished one."""
    if status is None:
        st.info(
            "No training run yet. Choose settings in the sidebar and press Start training."
            if may_manage()
            else "No training run yet. In public mode the operator starts training runs; you can explore "
            "the settings and the augmentation preview."
        )
        return
    if status.kind == "sweep":
        show_sweep(runner, status)
        return
    config = saved_config(status.config)
    title = f"`{status.preset}` run" + (
        f": {config.epochs} epoch{'s' if config.epochs != 1 else ''} of the {config.architecture} network"
        + (f" at {config.width:g}x width" if config.width != 1 else "")
        if config
        else ""
    )
    if status.kind == "finetune":
        title = f"fine-tune on MNIST and your digits ({status.epochs} epoch{'s' if status.epochs != 1 else ''})"
    if status.is_active:
        shown = progress(status)
        # Where it trains, when not in a process beside this server.
        st.markdown(f"**Training** {title}" + (" on the Ray cluster" if status.ray_actor else ""))
        st.progress(shown.done, text=f"{shown.text}. {status.message}")
        if may_manage() and st.button("Cancel", key="retrain_cancel") and refuse_unless_manager("Cancelling"):
            runner.cancel()
            st.rerun(scope="app")
        live_view(runner, status)
    elif status.state == "finished" and status.version and _deleted(status.version):
        st.info(
            f"Finished {title}: test accuracy {status.test_accuracy or 0:.2%}. Its version, "
            f"{status.version}, has been deleted since."
        )
    elif status.state == "finished":
        st.success(
            f"Finished {title}: test accuracy {status.test_accuracy or 0:.2%}. {status.message} "
            "Choose it under Model version in the sidebar to look at it on every page."
        )
    elif status.state == "cancelled":
        st.warning(f"Cancelled {title}. {status.message}")
    else:
        st.error(f"{status.state.capitalize()}: {title}. {status.message}")
    if len(status.history) == 1:
        # One epoch is one point, not a curve: its figures.
        last = status.history[-1]
        shown = [(name, label) for name, label in EPOCH_FIGURES if last.get(name) is not None]
        for column, (name, label) in zip(st.columns(len(shown) or 1), shown):
            column.metric(f"Epoch 1 {label}", f"{last[name]:.2%}" if "accuracy" in name else f"{last[name]:.4f}")
    elif status.history:
        st.plotly_chart(training_curves(status.history), key="retrain_curves")
        st.caption(curves_caption(status.history))


@st.cache_data(max_entries=32, show_spinner=False)
def augmentation_preview(_sample, augmentation: tuple[float, ...], seed: int):
    """The first training digits as the augmentation (strengths in AUGMENTATIONS order) changes them,
    computed once per setting and draw."""
    return augment_preview(_sample, TrainConfig(**dict(zip(AUGMENTATIONS, augmentation))), seed=seed)


def preview_section(config: TrainConfig | None) -> None:
    """Eight training digits before and after the chosen augmentation."""
    st.subheader("Augmentation preview")
    train_set = mnist_train_set()
    if config is None or train_set is None:
        return
    sample = train_set[0][:8]
    preview = augmentation_preview(
        sample, tuple(getattr(config, name) for name in AUGMENTATIONS), st.session_state.get("retrain_preview_seed", 0)
    )
    for column, original, changed in zip(st.columns(8), sample, preview):
        column.image(original, width=64)
        column.image(changed, width=64, clamp=True)
    if st.button("Another draw", key="retrain_preview"):
        st.session_state.retrain_preview_seed = int(time.time())
        st.rerun()
    if any(getattr(config, name) for name in AUGMENTATIONS):
        st.caption(
            "Top: digits as they are; bottom: as the chosen augmentation changes them for one epoch. "
            "Every epoch sees a new random change of each training image."
        )
    else:
        st.caption(
            "These settings do not augment, so both rows are the same: every epoch sees the training "
            "images as they are. Rotation, shift, zoom or elastic change them ("
            + ("sidebar)." if may_manage() else "the operator's training settings).")
        )


st.title("Retrain")
chosen, _ = chosen_model(__file__)
runner = JobRunner()
status = runner.status()
running = saved_config(status.config) if status and status.is_active and status.kind == "train" else None
config, start = settings_sidebar(running)
if start:
    start_training(runner, config)
fine_tune_sidebar(runner, chosen)
job_panel(runner)
sweep_section(runner, config)
preview_section(config)
versions = versions_section()
upload_section()
compare_section(versions)
