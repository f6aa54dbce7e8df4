"""Holds a folder's run lock until killed or its stdin closes: python -m tests.state.hold_lock FOLDER"""

import sys

from nasrec.state import RunLock

if __name__ == "__main__":
    with RunLock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()
