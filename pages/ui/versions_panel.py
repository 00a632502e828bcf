"""The Retrain page's model versions: the table, Set as default and Delete for whoever may
manage, a model brought by its user, and two versions compared."""

import streamlit as st

from model.store.registry import (
    DEFAULT_ID,
    ModelUnavailable,
    ModelVersion,
    RegistryFull,
    active_id,
    delete_version,
    list_versions,
    set_active,
)
from model.store.storage import ModelBroken
from model.upload import ModelRefused, import_model
from pages.ui.access import may_manage, public_mode, refuse_unless_manager
from pages.ui.common import as_code_span, carry_out, upload_limit_mb
from pages.ui.data import HEAVY_WORK, evaluation_on_test_set, mnist_test_set
from pages.ui.figures.predictions import comparison_bars, confusion_difference_figure, probability_bars
from pages.ui.models import FallingBack, predictor_for, version_name, version_problem
from pages.ui.state import current_digit
from training.config import (
    saved_config,
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
            st.error(f"{as_code_span(upload.name)} was not added. {error}")
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
            probability_bars(predictor.probabilities_of_image(digit.image), version_name(version.id)),
            key=f"retrain_probabilities_{version.id}",
        )
    st.caption(f"Both versions on the current digit ({digit.source}).")
