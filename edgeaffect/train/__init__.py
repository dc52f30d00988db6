"""Training: the model registry, model families (models/), the training engine, recipes, evaluation and Grad-CAM."""
