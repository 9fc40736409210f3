"""convflow.models: the model zoo (QKeras definitions), bundled data sets and training."""
