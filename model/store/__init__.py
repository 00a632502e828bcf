"""What is kept on disk: atomic files, the schemas of what is written, Keras model files, the
registry of versions, MNIST and the digits visitors keep. Imports nothing else of `model` but
`model.settings`."""
