"""The Retrain page's sweeps: choose values for up to two settings, run every combination as a
trial through Ray Tune, see them as a table and a plot, keep any finished trial as a version."""

import streamlit as st

from model.store.registry import RegistryFull
from model.store.schemas import JobStatus
from model.store.storage import ModelBroken
from pages.ui.access import may_manage, refuse_unless_manager
from pages.ui.common import carry_out
from pages.ui.figures.training import sweep_figure
from training.config import TrainConfig
from training.jobs import JobBusy, JobRunner
from training.sweep_plan import MAX_TEXT, MAX_TRIALS, MAX_VALUES, METRIC, SWEEPABLE, Sweep, parse_values

# Values offered when a setting is chosen; any can be typed instead.
SUGGESTED = {
    "learning_rate": "0.003, 0.01, 0.03",
    "batch_size": "64, 128, 256",
    "width": "0.5, 1, 2",
    "dropout": "0, 0.2, 0.4",
    "beta_1": "0.7, 0.8, 0.9",
    "rotation": "0, 5, 10",
    "shift": "0, 0.05, 0.1",
    "zoom": "0, 0.1",
    "elastic": "0, 1, 2",
    "optimizer": "adam, sgd",
    "lr_schedule": "constant, onecycle",
    "architecture": "fast, default",
}


def sweep_section(runner: JobRunner, config: TrainConfig | None) -> None:
    """Choosing and starting a sweep; its trials share the sidebar's settings."""
    with st.expander("Sweep: try a few values of one or two settings", expanded=False):
        st.caption(
            "Every combination of the values is a trial: the sidebar's settings with those values, trained in a "
            "process of its own through Ray Tune (one trial per core at a time; on a Ray cluster when the server "
            "has RAY_ADDRESS set). After each epoch ASHA stops trials that trail the others. Trials are judged on "
            "a tenth of the training images held out for validation, never on the test set."
        )
        names = st.multiselect("Settings", list(SWEEPABLE), max_selections=2, key="retrain_sweep_settings")
        texts = {
            name: st.text_input(
                f"Values of {name}",
                value=SUGGESTED[name],
                key=f"retrain_sweep_{name}",
                max_chars=MAX_TEXT,
                help=f"Separated by commas; at most {MAX_VALUES}.",
            )
            for name in names
        }
        sweep = None
        if not names:
            st.caption(f"Choose a setting or two; at most {MAX_TRIALS} combinations.")
        elif config is None:
            st.warning("Fix the settings in the sidebar first: every trial starts from them.")
        else:
            try:
                sweep = Sweep(config, {name: parse_values(name, text) for name, text in texts.items()})
                st.caption(
                    f"{len(sweep.trials())} trials of at most {config.epochs} epoch{'s' if config.epochs != 1 else ''}"
                    " each."
                )
            except ValueError as error:
                st.warning(str(error))
        pressed = st.button(
            "Start sweep", key="retrain_sweep_start", disabled=sweep is None or not may_manage(), type="primary"
        )
        if not may_manage():
            st.caption("Sweeps are for the operator while the app runs in public mode.")
        if pressed and sweep is not None and refuse_unless_manager("Sweeping"):
            try:
                runner.start_sweep(sweep)
            except (JobBusy, RegistryFull) as error:
                st.warning(str(error))
                return
            except (RuntimeError, OSError, ValueError) as error:
                st.error(f"The sweep could not start: {error}")
                return
            st.toast("Sweep started in the background.")
            st.rerun(scope="app")


def show_sweep(runner: JobRunner, status: JobStatus) -> None:
    """A sweep's trials as a table and a plot; Cancel while it runs; Keep once it ended."""
    names = list(status.sweep)
    rows = status.trials
    ended = sum(row.get("state") not in ("waiting", "running") for row in rows)
    title = f"Sweep of {' and '.join(f'`{name}`' for name in names)} on `{status.preset}` settings"
    if status.is_active:
        st.markdown(f"**{title}**")
        running = sum(row.get("state") == "running" for row in rows)
        st.progress(
            ended / max(1, len(rows)),
            text=f"{ended} of {len(rows)} trials ended, {running} running. {status.message}",
        )
        if may_manage() and st.button("Cancel", key="retrain_cancel") and refuse_unless_manager("Cancelling"):
            runner.cancel()
            st.rerun(scope="app")
    elif status.state == "finished":
        st.success(f"{title}: {status.message}")
    elif status.state == "cancelled":
        st.warning(f"{title}: {status.message}")
    else:
        st.error(f"{title}: {status.message}")
    if not rows:
        return
    st.dataframe(
        [
            {
                "trial": row["trial"],
                **{name: str(row.get(name)) for name in names},
                "state": row.get("state"),
                "epochs": row.get("epoch", 0),
                "validation": _percent(row.get(METRIC)),
                "test": _percent(row.get("test_accuracy")),
                "seconds": f"{row['seconds']:.0f}" if row.get("seconds") is not None else "",
                "version": row.get("version") or "",
            }
            for row in rows
        ],
        hide_index=True,
        key="retrain_sweep_table",
    )
    st.plotly_chart(sweep_figure(rows, names), key="retrain_sweep_plot", config={"displayModeBar": False})
    st.caption(
        "Validation accuracy of each trial after its last epoch; ASHA's stopped trials say at which epoch. "
        "The test accuracy is measured only on finished trials, for reporting."
    )
    if status.is_active or not may_manage():
        return
    # The best validation accuracy first.
    keepable = [
        row["trial"]
        for row in sorted(rows, key=lambda row: -(row.get(METRIC) or 0.0))
        if row.get("state") == "finished" and not row.get("version")
    ]
    if not keepable:
        return
    columns = st.columns([2, 1], vertical_alignment="bottom")
    chosen = columns[0].selectbox(
        "Keep a finished trial as a model version",
        keepable,
        format_func=lambda index: (
            ", ".join(f"{name} {rows[index].get(name)}" for name in names)
            + f" (trial {index}, {_percent(rows[index].get(METRIC))} validation)"
        ),
        key="retrain_sweep_keep_choice",
    )
    if columns[1].button("Keep", key="retrain_sweep_keep") and refuse_unless_manager("Keeping a trial"):
        carry_out(
            lambda: runner.keep_trial(int(chosen)),
            lambda version: f"Kept as version {version.id}.",
            "registry",
            refused=(ValueError, ModelBroken, RegistryFull),
        )


def _percent(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else ""
