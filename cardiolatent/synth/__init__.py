"""The synthetic cohort with planted truth (see :func:`cardiolatent.synth.build.make_cohort`)."""
