"""``python -m schema.cli``: the same as the ``mergepoint`` command."""

from schema.cli import main

main(prog_name="mergepoint")
