"""Training and fine-tuning of the 3D DiffAE (``cardiolatent train``)."""
