"""My digits: the examples of your own handwriting kept from the Draw page, how a model does on
them, relabelling, deleting, importing and exporting."""

import hashlib

import numpy as np
import streamlit as st

from model.analysis.confidence import with_article
from model.analysis.evaluation import evaluation_from_probabilities
from model.store.digit_archive import from_npz, to_npz
from model.store.my_digits import FolderStore, as_arrays
from pages.ui.access import public_mode
from pages.ui.common import as_code_span, carry_out
from pages.ui.figures.predictions import confusion_figure
from pages.ui.models import chosen_model, version_name
from pages.ui.state import MY_DIGITS_SESSION, digit_store

PER_PAGE = 24
PER_ROW = 6
# What a change on this page writes to, as its messages name it.
FOLDER = "dataset folder"


@st.cache_data(max_entries=8, show_spinner=False)
def _probabilities(cache_key: str, examples_digest: str, _predictor, _examples) -> np.ndarray:
    # Keyed by the version and the examples' ids (an example's image never changes; relabelling keeps
    # it): relabelling, paging or a rerun classifies nothing.
    images, _ = as_arrays(_examples)
    return _predictor.probabilities(images)


def measure_section(version, predictor, examples) -> np.ndarray:
    """Accuracy and confusion matrix of the chosen version on the examples; returns the predictions."""
    labels = np.array([example.label for example in examples], np.int64)
    digest = hashlib.blake2b(" ".join(example.id for example in examples).encode(), digest_size=16).hexdigest()
    probabilities = _probabilities(version.cache_key, digest, predictor, examples)
    evaluation = evaluation_from_probabilities(labels, probabilities)
    wrong = int((evaluation.predictions != labels).sum())
    columns = st.columns(3)
    columns[0].metric("Your digits", f"{len(examples):,}")
    columns[1].metric(f"Accuracy of {version_name(version.id)}", f"{evaluation.accuracy:.1%}")
    columns[2].metric("Mistakes", f"{wrong:,}")
    with st.expander("Confusion matrix on your digits"):
        st.plotly_chart(
            confusion_figure(evaluation.confusion, normalised=False),
            key="mydigits_confusion",
            config={"displayModeBar": False},
        )
    return evaluation.predictions


def grid_section(store, examples, predictions: np.ndarray) -> None:
    """The examples, newest first, a page at a time, each with its label, the prediction, Relabel and Delete."""
    only_wrong = st.toggle("Only the ones it gets wrong", key="mydigits_wrong")
    order = [
        index
        for index in range(len(examples) - 1, -1, -1)
        if not only_wrong or predictions[index] != examples[index].label
    ]
    if not order:
        st.success("It gets every one of your digits right.")
        return
    pages = (len(order) - 1) // PER_PAGE + 1
    page = st.number_input("Page", 1, pages, 1, key="mydigits_page") if pages > 1 else 1
    shown = order[(page - 1) * PER_PAGE : page * PER_PAGE]
    for start in range(0, len(shown), PER_ROW):
        for column, index in zip(st.columns(PER_ROW), shown[start : start + PER_ROW]):
            example, predicted = examples[index], int(predictions[index])
            mark = "right" if predicted == example.label else f"wrong: predicted {predicted}"
            column.image(example.image, width=84, clamp=True, caption=f"{with_article(example.label)}, {mark}")
            label = column.selectbox(
                "Its label",
                range(10),
                index=example.label,
                key=f"mydigits_label_{example.id}",
            )
            if label != example.label:
                carry_out(
                    lambda example=example, label=label: store.relabel(example.id, int(label)),
                    f"Relabelled as {with_article(label)}.",
                    FOLDER,
                )
            if column.button("Delete", key=f"mydigits_delete_{example.id}"):
                carry_out(lambda example=example: store.delete(example.id), "Deleted.", FOLDER)


def transfer_section(store, examples) -> None:
    """Export as one .npz; import one (what `to_npz` writes, or any images/labels .npz)."""
    columns = st.columns(2)
    columns[0].download_button(
        "Download as .npz",
        # Made when pressed, not on every rerun (it compresses every digit).
        data=(lambda: to_npz(examples)) if examples else b"",
        file_name="my-digits.npz",
        mime="application/octet-stream",
        disabled=not examples,
        key="mydigits_download",
    )
    upload = columns[1].file_uploader("Add digits from an .npz", type=["npz"], key="mydigits_upload")
    if upload is None or st.session_state.get("mydigits_imported") == upload.file_id:
        return
    st.session_state["mydigits_imported"] = upload.file_id

    def import_digits() -> tuple[int, int]:
        items = from_npz(upload.getvalue())
        return len(items), len(store.add_all(items, skip_duplicates=True))

    carry_out(
        import_digits,
        lambda counts: (
            f"Added {counts[1]:,} digits from {upload.name}"
            + (f"; {counts[0] - counts[1]:,} you already have were left out." if counts[1] < counts[0] else ".")
        ),
        FOLDER,
        failed=f"Could not import {as_code_span(upload.name)}",
    )


def session_section(store) -> None:
    """For the operator who kept digits as a visitor before unlocking (in the session, not on the
    server): says so, and adds them to the server's on request."""
    own = st.session_state.get(MY_DIGITS_SESSION)
    if not isinstance(store, FolderStore) or own is None or not own.count():
        return
    count = own.count()
    st.info(
        f"The {count} digit{'s' if count != 1 else ''} you kept in this session before unlocking "
        f"{'are' if count != 1 else 'is'} not among these, which are kept on the server."
    )

    def join() -> int:
        examples = own.examples()
        added = store.add_all([(e.image, e.label, e.raw if e.raw.size else None) for e in examples], True)
        st.session_state.pop(MY_DIGITS_SESSION, None)
        return len(added)

    if st.button(f"Add {'them' if count != 1 else 'it'} to the server's digits", key="mydigits_join"):
        carry_out(join, lambda added: f"Added {added:,} of your digits to the server's.", FOLDER)


def _size(count: int) -> str:
    """A byte count in words: kilobytes below a megabyte (one digit is a few), megabytes from there."""
    return f"{count / 1e3:,.0f} KB" if count < 1e6 else f"{count / 1e6:,.1f} MB"


st.title("My digits")
version, predictor = chosen_model(__file__)
store = digit_store()
if isinstance(store, FolderStore):
    where = "kept on this server" + (" for everyone who may manage it" if public_mode() else "")
else:
    where = (
        f"kept on the server for this session only, until you reload or close the tab ({_size(store.nbytes())} "
        f"of {store.budget / 1e6:,.0f} MB used): download them to keep them"
    )
st.caption(
    f"Digits you kept from the Draw page, with their labels; {where}. Measure any model version on them "
    "(choose it in the sidebar)."
)
session_section(store)
examples = store.examples()
broken = store.unreadable() if isinstance(store, FolderStore) else []
if broken:
    st.warning(f"{len(broken)} file(s) in the dataset folder cannot be read as digits and are left out.")
if not examples:
    st.info("No digits yet. On the Draw page, draw one and press Keep as one of my digits.")
else:
    predictions = measure_section(version, predictor, examples)
    grid_section(store, examples, predictions)
transfer_section(store, examples)
