"""The composition root: the list of bounded contexts and the runtime built from it."""
