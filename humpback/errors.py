"""The errors a user can fix: bad params, bad input data, a missing model or prompt file.

Stages print these as one line (`error: file:line: problem`) instead of a traceback.
"""


class HumpbackError(ValueError):
    pass
