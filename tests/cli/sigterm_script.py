"""A resumable command that has saved work and waits to be stopped (for the SIGTERM tests):
`python -m tests.cli.sigterm_script OUT [--ray]`; with --ray it first starts a local Ray (`RayExecutor`)."""

import time
from pathlib import Path

import typer

from nasrec.cli.common import resumable, user_errors

app = typer.Typer()


@app.command()
@user_errors
@resumable
def wait(out: Path, ray: bool = False) -> None:
    executor = None
    if ray:
        from nasrec.search.ray_executor import RayExecutor

        executor = RayExecutor("params", {"data": "sample:criteo"}, local_cpus=1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluations.jsonl").write_text("{}\n")
    print("ready", flush=True)
    try:
        time.sleep(120)
    finally:
        if executor is not None:
            executor.close()


if __name__ == "__main__":
    app()
