"""The project's small exception hierarchy (kept in convflow.hw, the lowest layer, so every layer can raise them).
Every message names the file, node, layer, option or tool at fault and what to do; the CLI prints it as one line
and exits with the code of its class (runtime/cli/__init__.py)."""


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


class UsageError(ConvflowError, ValueError):
    """An option or argument given on the command line (or to an API call) is out of range or inconsistent."""


class InputError(ConvflowError, ValueError):
    """An input batch (or --input file) has the wrong shape, dtype or values for the model."""


class OutputRefused(ConvflowError):
    """An output folder (-o) holds something convflow did not write, or the input: nothing was deleted."""


class IntegrityError(ArtifactError):
    """An artifact's or cache entry's file does not match its recorded hash, or a path leaves its folder."""


class CacheError(ConvflowError):
    """A cache folder is unusable (not a folder, not ours, open to other users, read-only)."""
