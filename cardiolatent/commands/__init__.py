"""One module per command of the ``cardiolatent`` command line."""
