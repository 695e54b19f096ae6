"""Training pipeline, one module per stage: data, model, train, evaluate, export, publish."""
