"""`python -m mechrefusal ...` is the `mechrefusal` command."""

from mechrefusal.cli.main import console

if __name__ == "__main__":
    console()
