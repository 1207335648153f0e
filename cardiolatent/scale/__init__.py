"""Spreading heavy work over an existing engine (issue 19): :mod:`cardiolatent.scale.dask`.

A low layer (it imports only :mod:`cardiolatent.errors`, the standard library and, when installed,
dask / distributed / dask-jobqueue: the optional extra ``cardiolatent[dask]``), so analysis and
encoding can both use it. Nothing is imported here: ``import cardiolatent.scale`` stays free of
dask; the command line imports :mod:`cardiolatent.scale.dask` only when a cluster option is given.
"""
