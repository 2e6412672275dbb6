"""The one error type of every dataset reader."""


class DatasetError(ValueError):
    """Data on disk does not match the layout its reader expects (the message names the file and the fix)."""
