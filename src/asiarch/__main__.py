"""`python -m asiarch …` is the `asiarch` command (useful where the console script is not on PATH)."""

from asiarch.cli import app

app()
