"""``python -m converter`` runs the command line."""

from converter.cli import run

if __name__ == "__main__":
    run()
