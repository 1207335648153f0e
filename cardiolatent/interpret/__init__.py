"""Interpretation of the latents: directions in latent space, and the heart decoded along them.

:func:`trait_direction` fits the paper's sparse regression of a trait on one seed's standardised
latents; :func:`latent_direction` takes one latent as the direction. Both return a
:class:`Direction` that moves latents (``z' = z + m sqrt(D) beta`` in standardised units) and
projects them. :func:`manipulate_volume` / :func:`manipulate_batch` decode one or many cines moved
along a direction; :func:`manipulate_participants` does it for participants of a cohort (their
images read and prepared) and returns a :class:`ManipulationResult` (tables, decoded cines, grids,
GIFs; what ``cardiolatent manipulate`` writes).
"""

from cardiolatent.interpret.direction import Direction, DirectionSummary, latent_direction, trait_direction
from cardiolatent.interpret.manipulate import Manipulation, default_steps, manipulate_batch, manipulate_volume
from cardiolatent.interpret.participants import (
    DEFAULT_MAGNITUDES,
    manipulate_participants,
    middle_participants,
    parse_participants,
)
from cardiolatent.interpret.result import ManipulationResult, ManipulationSummary

__all__ = ["DEFAULT_MAGNITUDES", "Direction", "DirectionSummary", "Manipulation", "ManipulationResult",
           "ManipulationSummary", "default_steps", "latent_direction", "manipulate_batch", "manipulate_participants",
           "manipulate_volume", "middle_participants", "parse_participants", "trait_direction"]
