"""``python -m hitbox`` runs the ``hitbox`` command line."""

from hitbox.cli import main

main()
