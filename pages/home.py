"""Home: what the dashboard does, and the active model's summary."""

import streamlit as st

from pages.ui.common import layer_table_view
from pages.ui.models import chosen_model
from training.config import AUGMENTATIONS, saved_config

st.title("Inside a handwritten-digit CNN")
st.write(
    "Draw a digit and watch a convolutional network trained on MNIST classify it, "
    "look at what every layer sees, find where it fails, and retrain it your way."
)

version, predictor = chosen_model(__file__)
meta = version.metadata
config = saved_config(meta.config)

st.subheader("The model you are looking at")
columns = st.columns(4)
columns[0].metric("Test accuracy", f"{meta.test_accuracy:.2%}" if meta.test_accuracy is not None else "unknown")
columns[1].metric("Parameters", f"{meta.parameters or predictor.model.count_params():,}")
columns[2].metric("Architecture", config.architecture if config else "?")
columns[3].metric(
    "Training time", f"{meta.training_seconds / 60:.0f} min" if meta.training_seconds is not None else "?"
)

source = "the shipped default" if version.is_default else f"version {version.id}"
if config is None:
    st.write(
        f"This is {source}; its training settings are not recorded. "
        "Test accuracy is measured on the 10,000 MNIST test images."
    )
else:
    # Units of the augmentation strengths, as the recipe line shows them.
    units = {"rotation": "°", "elastic": " px"}
    augmentation = (
        ", ".join(
            f"{name} {getattr(config, name):g}{units.get(name, '')}" for name in AUGMENTATIONS if getattr(config, name)
        )
        or "none"
    )
    images = f"{meta.train_images:,}" if meta.train_images is not None else "an unknown number of"
    st.write(
        f"This is {source}, trained with the `{meta.preset}` recipe: "
        f"{config.epochs} epochs of batch {config.batch_size}, {config.optimizer} at learning rate "
        f"{config.learning_rate} ({config.lr_schedule} schedule), augmentation: {augmentation}, "
        f"on {images} training images. Test accuracy is measured on the 10,000 MNIST test images."
    )
with st.expander("Layers"):
    layer_table_view(predictor.model)

st.subheader("The pages")
st.markdown(
    "- **Draw**: draw a digit (or upload one, or take a test image) and see the prediction, "
    "how sure the model is, and the preprocessing that turns your drawing into an MNIST-like image.\n"
    "- **Lesson**: eight short steps through the network on your digit, from the pixels it sees to where it "
    "fails, each with a figure to play with and one thing to try, written from the model you look at.\n"
    "- **Feature maps**: the whole network at once for the current digit, any layer's channels in detail, "
    "how one value is computed (click a pixel), what a channel detects (the test patches that excite it "
    "most), why the network chose its answer (Grad-CAM, saliency, SmoothGrad, integrated gradients, "
    "occlusion), and the layers' weights and activations.\n"
    "- **Confusion matrix**: accuracy on the 10,000 test images, which digits get mixed up, per-class "
    "precision and recall, and the test digits behind every cell, which can be sent to the other pages.\n"
    "- **Digit map**: the 10,000 test digits placed in 2-D as the network sees them (PCA, UMAP or t-SNE), "
    "the current digit among them and its nearest digits, a confusion cell ringed, two versions side by side.\n"
    "- **Robustness**: how far the current digit can be rotated, shifted, scaled, thickened, noised or hidden "
    "before the prediction changes, and the smallest adversarial change (FGSM, PGD) that fools the model.\n"
    "- **My digits**: the digits you kept from the Draw page, how the model does on them, relabel, delete, "
    "import and export; the Retrain page fine-tunes a version on them.\n"
    "- **Retrain**: choose settings in the sidebar and train a new version in the background, with live "
    "curves; sweep a few values of one or two settings; compare versions, and choose the default version "
    "or delete one (in public mode, training and managing versions are the operator's; comparing is "
    "everyone's). While a run trains, its latest snapshot shows how the network is learning.\n"
    "- **How it learned**: a version's training replayed, from random filters to the finished network: the "
    "filters, a few test digits' answers, the digit map and the mistakes, frame by frame.\n"
    "\nChoose the model version you look at in the sidebar, on any page: the choice is yours alone.\n"
)
