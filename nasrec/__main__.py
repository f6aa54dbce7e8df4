"""`python -m nasrec ...` (and `torchrun ... -m nasrec train-supernet ...`) is the `nasrec` command."""

from nasrec.cli.main import main

if __name__ == "__main__":
    main()
