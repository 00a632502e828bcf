"""Home: what the dashboard does, and the active model's summary."""

import streamlit as st

from model.architecture import layer_table
from pages.common import active_model
from training.config import AUGMENTATIONS

st.title("Inside a handwritten-digit CNN")
st.write(
    "Draw a digit and watch a convolutional network trained on MNIST classify it, "
    "look at what every layer sees, find where it fails, and retrain it your way."
)

version, predictor = active_model()
meta = version.metadata
config = meta.get("config", {})

st.subheader("The active model")
columns = st.columns(4)
columns[0].metric("Test accuracy", f"{meta['test_accuracy']:.2%}" if "test_accuracy" in meta else "unknown")
columns[1].metric("Parameters", f"{meta.get('parameters', predictor.model.count_params()):,}")
columns[2].metric("Architecture", config.get("architecture", "?"))
columns[3].metric("Training time", f"{meta['training_seconds'] / 60:.0f} min" if "training_seconds" in meta else "?")

# Units of the augmentation strengths, as the recipe line shows them.
UNITS = {"rotation": "°", "elastic": " px"}
augmentation = ", ".join(
    f"{name} {config[name]:g}{UNITS.get(name, '')}" for name in AUGMENTATIONS if config.get(name)
) or "none"
source = "the shipped default" if version.is_default else f"version {version.id}"
images = meta.get("train_images")
st.write(
    f"This is {source}, trained with the `{meta.get('preset', 'custom')}` recipe: "
    f"{config.get('epochs', '?')} epochs of batch {config.get('batch_size', '?')}, "
    f"{config.get('optimizer', '?')} at learning rate {config.get('learning_rate', '?')} "
    f"({config.get('lr_schedule', '?')} schedule), augmentation: {augmentation}, "
    f"on {f'{images:,}' if isinstance(images, int) else 'an unknown number of'} training images. "
    "Test accuracy is measured on the 10,000 MNIST test images."
)
with st.expander("Layers"):
    st.dataframe(layer_table(predictor.model), hide_index=True)

st.subheader("The pages")
st.markdown(
    "- **Draw**: draw a digit (or upload one, or take a test image) and see the prediction, "
    "how sure the model is, and the preprocessing that turns your drawing into an MNIST-like image.\n"
    "- **Feature maps**: the activations of every convolution and pooling layer for the current digit, "
    "the first layer's filters, and Grad-CAM and saliency maps that show why the network chose its answer.\n"
    "- **Confusion matrix**: accuracy on the 10,000 test images, which digits get mixed up, per-class "
    "precision and recall, and a gallery of the test digits behind every cell.\n"
    "- **Retrain**: choose settings in the sidebar and train a new version in the background, with live "
    "curves; activate, delete and compare versions.\n"
)
