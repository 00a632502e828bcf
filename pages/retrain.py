"""Retrain: settings in the sidebar, training in the background with live curves, and model versions."""

import contextlib
import time

import streamlit as st

from model.architecture import DEFAULT_DROPOUT
from model.store.my_digits import FolderStore, dataset_dir
from model.store.registry import (
    DEFAULT_ID,
    ModelUnavailable,
    ModelVersion,
    RegistryFull,
    active_id,
    delete_version,
    get_version,
    list_versions,
    set_active,
)
from model.store.schemas import JobStatus
from model.store.storage import ModelBroken
from model.upload import ModelRefused, import_model
from pages.access import may_manage, public_mode, refuse_unless_manager
from pages.common import (
    HEAVY_WORK,
    MY_DIGITS_SESSION,
    FallingBack,
    carry_out,
    chosen_model,
    current_digit,
    evaluation_on_test_set,
    literal,
    mnist_test_set,
    mnist_train_set,
    predictor_for,
    upload_limit_mb,
    version_name,
    version_problem,
)
from pages.plots import (
    comparison_bars,
    confusion_difference_figure,
    curves_caption,
    probability_bars,
    training_curves,
)
from pages.preset_figures import preset_figures
from pages.routing import guarded
from pages.sweep_panel import show_sweep, sweep_section
from training.config import (
    ARCHITECTURE_NAMES,
    AUGMENTATIONS,
    CUSTOM,
    LR_SCHEDULES,
    MIN_DIGITS,
    OPTIMIZERS,
    PRESETS,
    FineTuneConfig,
    TrainConfig,
    preset,
    preset_name,
    saved_config,
)
from training.jobs import JobBusy, JobRunner
from training.pipeline import augment_preview
from training.progress import progress

WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
# The weight-averaging momentums offered (0: off), beside the preset's own.
AVERAGES = (0.0, 0.99, 0.995, 0.999, 0.9995)
# Where each augmentation's slider starts when the preset does not use it.
DEFAULT_STRENGTH = {"rotation": 10.0, "shift": 0.1, "zoom": 0.1, "elastic": 0.0}


def start_from(config: TrainConfig) -> None:
    """Sets the sidebar's widgets to `config` (a run that is training) in a session that has not shown
    them yet: a reload mid-run is a new session. Under the preset `config` is, or the first preset of
    its architecture when it is custom."""
    name = preset_name(config)
    if name == CUSTOM:
        name = next((other for other, settings in PRESETS.items() if settings.architecture == config.architecture), "")
    if not name or config.width not in WIDTHS:
        return
    base = preset(name)
    values = {
        "architecture": config.architecture,
        "width": config.width,
        "epochs": config.epochs,
        "batch": config.batch_size,
        "lr": config.learning_rate,
        "optimizer": config.optimizer,
        "schedule": config.lr_schedule,
        "dropout": float(config.dropout if config.dropout is not None else DEFAULT_DROPOUT[config.architecture]),
        "augment": any(getattr(config, kind) for kind in AUGMENTATIONS),
        **{kind: getattr(config, kind) or getattr(base, kind) or DEFAULT_STRENGTH[kind] for kind in AUGMENTATIONS},
        "train_size": config.train_size or 60000,
        "validation": config.validation_split,
        "seed": config.seed,
    }
    if config.weight_average in {*AVERAGES, base.weight_average}:
        values["weight_average"] = config.weight_average
    st.session_state["retrain_preset"] = name
    for field, value in values.items():
        st.session_state[f"retrain_{name}_{field}"] = value


def settings_sidebar(running: TrainConfig | None = None) -> tuple[TrainConfig | None, bool]:
    """The sidebar: a preset, then every setting editable. Returns the settings (None when
    they are invalid, after saying why) and whether Start was pressed.

    Widget keys carry the preset's name, so choosing another preset starts from its values. A
    session that opens the page while a run trains starts from that run's settings (`running`).
    """
    if running is not None and "retrain_preset" not in st.session_state:
        start_from(running)
    # A public visitor cannot use these: folded away under one line, open to look at.
    with st.sidebar, contextlib.nullcontext() if may_manage() else st.expander("Training settings (operator)"):
        if may_manage():
            st.header("Training settings")
        name = st.selectbox(
            "Preset",
            list(PRESETS),
            key="retrain_preset",
            persist_state="session",
            help=f"quick: about a minute; fast: the fastest known recipe, one epoch of a small network; "
            f"strong: near the shipped model in minutes, {PRESETS['strong'].epochs} epochs of the lean network "
            f"(the shipped design at half its cost per image), its weights averaged over the last steps; "
            f"standard: the shipped model's recipe "
            f"({PRESETS['standard'].epochs} epochs: hours on a CPU); original: the project's "
            f"first network and recipe.",
        )
        base = preset(name)
        figures = preset_figures().get(name)
        if figures:
            st.caption(f"Measured on 2 CPU cores: {figures}.")
        key = f"retrain_{name}_"
        architecture = st.selectbox(
            "Architecture",
            ARCHITECTURE_NAMES,
            index=ARCHITECTURE_NAMES.index(base.architecture),
            key=key + "architecture",
            persist_state="session",
            help="default: the shipped design; original: the project's first network; fast: the small network "
            "of the fastest known recipe; lean: the shipped design at about half its cost per image (one 5x5 "
            "convolution first, pooling before normalisation).",
        )
        width = st.select_slider(
            "Model width",
            WIDTHS,
            value=base.width,
            key=key + "width",
            persist_state="session",
            help="Multiplies every layer's channel count.",
        )
        epochs = st.number_input("Epochs", value=base.epochs, step=1, key=key + "epochs", persist_state="session")
        batch_size = st.number_input(
            "Batch size", value=base.batch_size, step=16, key=key + "batch", persist_state="session"
        )
        learning_rate = st.number_input(
            "Learning rate",
            value=base.learning_rate,
            step=0.0005,
            format="%.5f",
            key=key + "lr",
            persist_state="session",
        )
        optimizer = st.selectbox(
            "Optimizer",
            OPTIMIZERS,
            index=OPTIMIZERS.index(base.optimizer),
            key=key + "optimizer",
            persist_state="session",
        )
        schedule = st.selectbox(
            "Learning-rate schedule",
            LR_SCHEDULES,
            index=LR_SCHEDULES.index(base.lr_schedule),
            key=key + "schedule",
            persist_state="session",
        )
        averages = sorted({*AVERAGES, base.weight_average})
        weight_average = st.select_slider(
            "Weight averaging",
            averages,
            value=base.weight_average,
            format_func=lambda momentum: "off" if momentum == 0 else f"{momentum:g}",
            key=key + "weight_average",
            persist_state="session",
            help="The model keeps a moving average of its weights over the last steps (0.999: about the last "
            "1,000, never more than a fifth of the run) instead of the last step's weights; often a little more "
            "accurate, for about 2% more time per step.",
        )
        dropout = st.slider(
            "Dropout",
            0.0,
            0.8,
            float(base.dropout if base.dropout is not None else DEFAULT_DROPOUT[base.architecture]),
            0.05,
            key=key + "dropout",
            persist_state="session",
        )
        augment = st.toggle(
            "Augmentation",
            value=any(getattr(base, name) for name in AUGMENTATIONS),
            key=key + "augment",
            persist_state="session",
        )
        strengths = {
            "rotation": st.slider(
                "Rotation (degrees)",
                0.0,
                45.0,
                base.rotation or DEFAULT_STRENGTH["rotation"],
                1.0,
                key=key + "rotation",
                persist_state="session",
                disabled=not augment,
            ),
            "shift": st.slider(
                "Shift (fraction)",
                0.0,
                0.3,
                base.shift or DEFAULT_STRENGTH["shift"],
                0.01,
                key=key + "shift",
                persist_state="session",
                disabled=not augment,
            ),
            "zoom": st.slider(
                "Zoom (fraction)",
                0.0,
                0.3,
                base.zoom or DEFAULT_STRENGTH["zoom"],
                0.01,
                key=key + "zoom",
                persist_state="session",
                disabled=not augment,
            ),
            "elastic": st.slider(
                "Elastic distortion (pixels)",
                0.0,
                3.0,
                base.elastic,
                0.1,
                key=key + "elastic",
                persist_state="session",
                disabled=not augment,
                help="How far pixels move, on average, along a smooth "
                "random field that bends the strokes; 0 turns it off.",
            ),
        }
        train_size = st.number_input(
            "Training images",
            value=base.train_size or 60000,
            step=1000,
            key=key + "train_size",
            persist_state="session",
            help="A seeded random subset of the 60,000; fewer trains faster.",
        )
        validation = st.slider(
            "Held out for validation",
            0.0,
            0.3,
            base.validation_split,
            0.05,
            key=key + "validation",
            persist_state="session",
            help="Gives the validation curves (and makes the run custom: it trains on fewer images than the preset).",
        )
        seed = st.number_input("Seed", value=base.seed, step=1, key=key + "seed", persist_state="session")
        start = st.button(
            "Start training", type="primary", key="retrain_start", width="stretch", disabled=not may_manage()
        )
        if not may_manage():
            st.caption("Training is for the operator while the app runs in public mode.")
    try:
        config = TrainConfig(
            architecture=architecture,
            width=float(width),
            dropout=float(dropout),
            epochs=int(epochs),
            batch_size=int(batch_size),
            learning_rate=float(learning_rate),
            optimizer=optimizer,
            # Adam's betas are the preset's (the fast preset's differ from Keras's defaults).
            beta_1=base.beta_1,
            beta_2=base.beta_2,
            lr_schedule=schedule,
            weight_average=float(weight_average),
            **{name: float(value) if augment else 0.0 for name, value in strengths.items()},
            train_size=None if int(train_size) == 60000 else int(train_size),
            validation_split=float(validation),
            seed=int(seed),
        )
    except ValueError as error:
        config = None
        st.sidebar.error(f"These settings cannot be used: {error}")
    return config, start


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
            runner.start(config)
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
            runner.start_fine_tune(version, folder, FineTuneConfig(epochs=int(epochs)))
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
        st.markdown(f"**Training** {title}")
        st.progress(shown.done, text=f"{shown.text}. {status.message}")
        if may_manage() and st.button("Cancel", key="retrain_cancel") and refuse_unless_manager("Cancelling"):
            runner.cancel()
            st.rerun(scope="app")
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


def versions_section() -> list[ModelVersion]:
    """The versions table, with Set as default and Delete (for whoever may manage); returns the versions."""
    st.subheader("Model versions")
    versions = list_versions()
    default = active_id()
    rows = []
    for version in versions:
        meta = version.metadata
        config = saved_config(meta.config)
        rows.append(
            {
                "version": version.id,
                "default": "yes" if version.id == default else "",
                "problem": version_problem(version),
                "test accuracy": meta.test_accuracy,
                "preset": meta.preset,
                "epochs": config.epochs if config else None,
                "architecture": config.architecture if config else None,
                "minutes": round(meta.training_seconds / 60, 1) if meta.training_seconds is not None else None,
                "created": meta.created[:16].replace("T", " ") if meta.created else None,
            }
        )
    if not any(row["problem"] for row in rows):
        for row in rows:
            del row["problem"]
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(rows, hide_index=True, column_config={"test accuracy": percent})
    st.caption("Each visitor chooses the version they look at in the sidebar; the default is where new visitors start.")
    broken = [version.id for version in versions if version_problem(version)]
    if broken:
        st.warning(
            f"{len(broken)} version{'s' if len(broken) > 1 else ''} cannot be used ({', '.join(broken)}): "
            "see the problem column. Pages show the shipped model instead; delete "
            f"{'them' if len(broken) > 1 else 'it'} below or fix the files."
        )
    if public_mode() and not may_manage():
        return versions
    manage = st.columns([2, 1, 1], vertical_alignment="bottom")
    chosen = manage[0].selectbox(
        "Version",
        [version.id for version in versions],
        key="retrain_version",
        format_func=version_name,
    )
    if manage[1].button(
        "Set as default",
        key="retrain_activate",
        disabled=chosen == default,
        help="New visitors start with this version.",
    ) and refuse_unless_manager("Setting the default version"):
        _change_registry(set_active, chosen, f"{chosen} is now the default for new visitors.")
    if manage[2].button(
        "Delete", key="retrain_delete", disabled=chosen == DEFAULT_ID, help="The shipped default cannot be deleted."
    ) and refuse_unless_manager("Deleting a version"):
        _change_registry(delete_version, chosen, f"Deleted {chosen}.")
    return versions


def _change_registry(change, version_id: str, done: str) -> None:
    """Applies a registry change, then reruns with a toast; says why when it cannot."""
    carry_out(lambda: change(version_id), done, "registry", refused=(ModelUnavailable, ValueError))


def upload_section() -> None:
    """Bring your own model: for whoever may manage, a `.keras` classifier becomes a version."""
    if not may_manage():
        return
    st.subheader("Bring your own model")
    st.caption(
        "A Keras 3 `.keras` file of a classifier that takes one 28x28 (or 28x28x1) image with values in 0-1 "
        f"and ends in a softmax over the 10 digits, up to {upload_limit_mb()} MB. It loads in safe mode "
        "(no Lambda layers or custom classes), is checked, measured on the test images and added as a version."
    )
    columns = st.columns([2, 1], vertical_alignment="bottom")
    upload = columns[0].file_uploader("Model file", type=["keras"], key="retrain_upload")
    label = columns[1].text_input("Name", value="uploaded", max_chars=20, key="retrain_upload_name")
    if (
        upload is not None
        and st.button("Add as a version", key="retrain_upload_add")
        and refuse_unless_manager("Uploading a model")
    ):
        try:
            with st.spinner("Checking the model and measuring it on the test images..."), HEAVY_WORK:
                version = import_model(upload.getvalue(), label, mnist_test_set())
        except (ModelRefused, RegistryFull, ValueError, OSError) as error:
            st.error(f"{literal(upload.name)} was not added. {error}")
            return
        st.toast(f"Added {version.id}; choose it under Model version in the sidebar.")
        st.rerun()


def compare_section(versions: list[ModelVersion]) -> None:
    """Two versions side by side: test accuracy, per-class recall, the confusion difference, the current digit."""
    st.subheader("Compare two versions")
    if len(versions) < 2:
        st.info("Train or upload a version to compare it with the shipped model.")
        return
    by_id = {version.id: version for version in versions if not version_problem(version)}
    if len(by_id) < 2:
        st.info("Only one version can be used; train or upload another to compare them.")
        return
    pick = st.columns(2)
    first = by_id[pick[0].selectbox("A", list(by_id), index=0, key="retrain_compare_a", format_func=version_name)]
    second = by_id[pick[1].selectbox("B", list(by_id), index=1, key="retrain_compare_b", format_func=version_name)]
    predictors = []
    for version in (first, second):
        try:
            predictors.append(FallingBack(predictor_for(version)))
        except ModelBroken as error:
            st.error(f"Version {version.id} cannot be used: {error}")
            return
    for column, version in zip(st.columns(2), (first, second)):
        meta = version.metadata
        config = saved_config(meta.config)
        accuracy = f"{meta.test_accuracy:.2%}" if meta.test_accuracy is not None else "unknown"
        column.metric(f"{version_name(version.id)}: test accuracy", accuracy)
        parameters = f"{meta.parameters:,}" if meta.parameters is not None else "?"
        minutes = f"{meta.training_seconds / 60:.1f}" if meta.training_seconds is not None else "?"
        epochs = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}" if config else "? epochs"
        column.caption(f"{parameters} parameters, {epochs}, {minutes} min of training")
    test_set = mnist_test_set()
    if test_set is None:
        return
    evaluations = [evaluation_on_test_set(v.cache_key, p, *test_set) for v, p in zip((first, second), predictors)]
    st.plotly_chart(
        comparison_bars(evaluations[0].recall, evaluations[1].recall, version_name(first.id), version_name(second.id)),
        key="retrain_per_class",
    )
    st.caption("Accuracy on each digit's test images (recall), for both versions.")
    st.plotly_chart(
        confusion_difference_figure(evaluations[1].confusion - evaluations[0].confusion),
        key="retrain_confusion_difference",
    )
    st.caption(
        "The numbers are B minus A in each cell; the colour says which is better. On the diagonal (right "
        "answers) more is better for B; off it (mistakes) fewer is, so a red +6 off the diagonal is six more "
        "of that mistake."
    )
    digit = current_digit()
    if digit is None:
        st.caption("Draw a digit on the Draw page to compare both versions' answers for it.")
        return
    for column, version, predictor in zip(st.columns(2), (first, second), predictors):
        column.plotly_chart(
            probability_bars(predictor.probabilities_one(digit["image"]), version_name(version.id)),
            key=f"retrain_probabilities_{version.id}",
        )
    st.caption(f"Both versions on the current digit ({digit['source']}).")


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
