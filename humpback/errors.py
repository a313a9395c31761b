"""The errors a user can fix: bad params, bad input data, a missing model or prompt file.

Stages print these as one line (`error: file:line: problem`) instead of a traceback.
"""


class HumpbackError(ValueError):
    pass


class ParamsError(HumpbackError):
    """A params.yaml problem; the message names the file and the key."""
