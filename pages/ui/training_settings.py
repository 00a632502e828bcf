"""The Retrain page's training settings in the sidebar: a preset and every setting of
`TrainConfig`, checked, kept for the session and seeded from a running run."""

import contextlib

import streamlit as st

from model.architecture import DEFAULT_DROPOUT
from pages.ui.access import may_manage
from pages.ui.preset_figures import preset_figures
from training.config import (
    ARCHITECTURE_NAMES,
    AUGMENTATIONS,
    CUSTOM,
    LR_SCHEDULES,
    OPTIMIZERS,
    PRESETS,
    TrainConfig,
    help_of,
    preset,
    preset_name,
)

WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


# The weight-averaging momentums offered (0: off), beside the preset's own.
AVERAGES = (0.0, 0.99, 0.995, 0.999, 0.9995)


# Where each augmentation's slider starts when the preset does not use it.
DEFAULT_STRENGTH = {"rotation": 10.0, "shift": 0.1, "zoom": 0.1, "elastic": 0.0}
# The sidebar's augmentation sliders: label, highest value, step, and what the help adds.
AUGMENTATION_SLIDERS = {
    "rotation": ("Rotation (degrees)", 45.0, 1.0, ""),
    "shift": ("Shift (fraction)", 0.3, 0.01, ""),
    "zoom": ("Zoom (fraction)", 0.3, 0.01, ""),
    "elastic": (
        "Elastic distortion (pixels)",
        3.0,
        0.1,
        " The pixels move along a smooth random field that bends the strokes.",
    ),
}


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
            help=help_of("architecture"),
        )
        width = st.select_slider(
            "Model width",
            WIDTHS,
            value=base.width,
            key=key + "width",
            persist_state="session",
            help=help_of("width"),
        )
        epochs = st.number_input(
            "Epochs", value=base.epochs, step=1, key=key + "epochs", persist_state="session", help=help_of("epochs")
        )
        batch_size = st.number_input(
            "Batch size",
            value=base.batch_size,
            step=16,
            key=key + "batch",
            persist_state="session",
            help=help_of("batch_size"),
        )
        learning_rate = st.number_input(
            "Learning rate",
            value=base.learning_rate,
            step=0.0005,
            format="%.5f",
            key=key + "lr",
            persist_state="session",
            help=help_of("learning_rate"),
        )
        optimizer = st.selectbox(
            "Optimizer",
            OPTIMIZERS,
            index=OPTIMIZERS.index(base.optimizer),
            key=key + "optimizer",
            persist_state="session",
            help=help_of("optimizer"),
        )
        schedule = st.selectbox(
            "Learning-rate schedule",
            LR_SCHEDULES,
            index=LR_SCHEDULES.index(base.lr_schedule),
            key=key + "schedule",
            persist_state="session",
            help=help_of("lr_schedule"),
        )
        averages = sorted({*AVERAGES, base.weight_average})
        weight_average = st.select_slider(
            "Weight averaging",
            averages,
            value=base.weight_average,
            format_func=lambda momentum: "off" if momentum == 0 else f"{momentum:g}",
            key=key + "weight_average",
            persist_state="session",
            help=help_of("weight_average") + " It averages over at most a fifth of the run; often a little more "
            "accurate.",
        )
        dropout = st.slider(
            "Dropout",
            0.0,
            0.8,
            float(base.dropout if base.dropout is not None else DEFAULT_DROPOUT[base.architecture]),
            0.05,
            key=key + "dropout",
            persist_state="session",
            help=help_of("dropout"),
        )
        augment = st.toggle(
            "Augmentation",
            value=any(getattr(base, name) for name in AUGMENTATIONS),
            key=key + "augment",
            persist_state="session",
        )
        strengths = {
            name: st.slider(
                label,
                0.0,
                highest,
                getattr(base, name) or DEFAULT_STRENGTH[name],
                step,
                key=key + name,
                persist_state="session",
                disabled=not augment,
                help=help_of(name) + more,
            )
            for name, (label, highest, step, more) in AUGMENTATION_SLIDERS.items()
        }
        train_size = st.number_input(
            "Training images",
            value=base.train_size or 60000,
            step=1000,
            key=key + "train_size",
            persist_state="session",
            help=help_of("train_size") + " Fewer trains faster.",
        )
        validation = st.slider(
            "Held out for validation",
            0.0,
            0.3,
            base.validation_split,
            0.05,
            key=key + "validation",
            persist_state="session",
            help=help_of("validation_split") + " It makes the run custom: it trains on fewer images than the preset.",
        )
        seed = st.number_input(
            "Seed", value=base.seed, step=1, key=key + "seed", persist_state="session", help=help_of("seed")
        )
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
