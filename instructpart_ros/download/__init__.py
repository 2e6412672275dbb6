"""``instructpart download``: the public weights and the InstructPart dataset from the Hugging Face hub.

:mod:`.sources` says what each name fetches (repository, pinned commit, which files),
:mod:`.hub` plans, checks and runs one download, :mod:`.manifest` records what landed
on disk, :mod:`.command` is the command line. Nothing here imports torch.
"""
