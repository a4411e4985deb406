"""In-process fakes of the external services Nudge talks to."""
