"""How an image installs its wheelhouse: one Containerfile step, uv where it can run, else pip.

The step makes the image's virtual environment and installs ``requirements.lock`` from the
context's ``wheels/`` (bind-mounted, so the wheels are no layer of the image), offline and
checked against the lock's sha256s. With uv, a scikit-learn model's image builds in about
half the time it takes with pip (most of what is left is compiling the bytecode), and the
environment carries no pip.

uv is not part of a context: a build lends Atelier's own uv binary in the context's ``tools/``
for its duration (:func:`installer_lent`), and the step uses it only where it runs on the base
image (same architecture, a glibc). A context kept in the bucket, downloaded, or built by a
company's CI has an empty ``tools/`` and installs the same wheels with the base's venv and pip.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atelier.errors import AtelierError

#: The context's folder a build lends uv in, and where the install step mounts it and the
#: wheels (read-only, the default of ``RUN --mount=type=bind``).
TOOLS = "tools"
_TOOLS_AT = f"/tmp/{TOOLS}"
_WHEELS_AT = "/tmp/wheels"
_README = (
    "A build by Atelier lends its uv binary here for the install step (tools/uv), and takes it\n"
    "out after. Without it, the image installs the same wheels with the base image's pip.\n"
)

log = logging.getLogger(__name__)


def write_tools(context: Path) -> None:
    """The context's ``tools/`` folder, which the install step mounts (a file in it, so that
    an archive or a bucket keeps the folder)."""
    (context / TOOLS).mkdir()
    (context / TOOLS / "README.txt").write_text(_README)


def install_step(env: str, lock: str, *, compile_bytecode: bool) -> str:
    """The Containerfile ``RUN`` that makes the virtual environment ``env`` and installs
    ``lock`` (a path in the image) from ``wheels/``: binary wheels only, no index, hashes
    required. ``compile_bytecode``: write the ``.pyc`` files at install (for a read-only
    container that should not compile at each start)."""
    script = install_script(env, lock, compile_bytecode=compile_bytecode)
    return f"""\
RUN --mount=type=bind,source=wheels,target={_WHEELS_AT} \\
    --mount=type=bind,source={TOOLS},target={_TOOLS_AT} \\
    {script}"""


def install_script(
    env: str,
    lock: str,
    *,
    compile_bytecode: bool,
    tools: str = _TOOLS_AT,
    wheels: str = _WHEELS_AT,
) -> str:
    """The shell commands of :func:`install_step`, with the folders the wheels and tools are
    mounted at."""
    uv = f"{tools}/uv"
    uv_compile = " --compile-bytecode" if compile_bytecode else ""
    pip_compile = "" if compile_bytecode else " --no-compile"
    return f"""\
if {uv} --version >/dev/null 2>&1; then \\
      {uv} --quiet --no-config --no-cache venv --python "$(command -v python3)" {env} && \\
      {uv} --quiet --no-config --no-cache pip install --python {env}/bin/python \\
        --offline --no-index --no-build --require-hashes{uv_compile} \\
        --find-links {wheels} -r {lock}; \\
    else \\
      python3 -m venv {env} && \\
      {env}/bin/python -m pip install --no-index --no-cache-dir{pip_compile} \\
        --disable-pip-version-check --only-binary=:all: --require-hashes \\
        --find-links {wheels} -r {lock}; \\
    fi"""


@contextmanager
def installer_lent(context: Path) -> Iterator[None]:
    """A copy of Atelier's uv in ``context``'s ``tools/`` while the block builds it, removed
    after. A copy, not a link: the build runs the base image's shell, which the person
    building chooses, and no mount of it ever reaches the binary Atelier itself runs. Where
    it cannot be placed, the build goes on with pip (logged)."""
    from atelier.services.projects.uvtool import uv_binary

    target = context / TOOLS / "uv"
    try:
        shutil.copy2(uv_binary(), target)
        lent = True
    except (AtelierError, OSError) as error:
        log.warning("building %s with pip: uv could not be lent (%s)", context, error)
        lent = False
    try:
        yield
    finally:
        if lent:
            target.unlink(missing_ok=True)
