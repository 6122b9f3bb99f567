"""The local stack: the template's resources on an embedded AWS endpoint, served over HTTP."""
