"""Encoding many inputs with several seeds' models, and the cross-seed step (:mod:`.ensemble`)."""
