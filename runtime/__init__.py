"""convflow.runtime: load an artifact and run it on any backend through one Session API."""
from .artifact import Artifact
from .session import Session

__all__ = ["Artifact", "Session"]
