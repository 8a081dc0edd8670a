"""The web dashboard and record browser of a job or an output (``serve``, ``view``)."""
