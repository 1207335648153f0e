"""Interpretation of the latents: directions in latent space (a trait's, or one latent's) to move along.

:func:`trait_direction` fits the paper's sparse regression of a trait on one seed's standardised
latents; :func:`latent_direction` takes one latent as the direction. Both return a
:class:`Direction` that moves latents (``z' = z + m sqrt(D) beta`` in standardised units) and
projects them. Decoding the moved latents into images is the manipulation step built on it.
"""

from cardiolatent.interpret.direction import Direction, DirectionSummary, latent_direction, trait_direction
from cardiolatent.interpret.manipulate import Manipulation, default_steps, manipulate_volume

__all__ = ["Direction", "DirectionSummary", "Manipulation", "default_steps", "latent_direction",
           "manipulate_volume", "trait_direction"]
