"""The project's small exception hierarchy (kept in convflow.hw, the lowest layer, so every layer can raise them).
to do; the CLI prints it as one line and exits non-zero."""


class ConvflowError(Exception):
    """Base class: an error the user can act on (as opposed to a bug)."""


class ModelError(ConvflowError):
    """The input model is malformed or inconsistent."""


class UnsupportedOp(ModelError):
    """The model uses an op, attribute or pattern convflow cannot map exactly."""


class ArtifactError(ConvflowError):
    """An artifact directory is missing, incomplete or of another format version."""


class ToolMissing(ConvflowError):
    """An external tool (vitis_hls, vivado, a board, a GPU ...) is not available here."""


class ToolFailed(ConvflowError):
    """An external tool ran and failed; the message names the log to read."""


class DesignDoesNotFit(ConvflowError):
    """A design needs more resources than the target device has."""


class FoldingError(UnsupportedOp):
    """A PE / SIMD folding the hardware cannot implement (PE must divide a layer's outputs, SIMD its inputs)."""
