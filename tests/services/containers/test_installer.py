"""The images' install step, run on this host: with the uv a build lends it makes an environment
without pip; without uv, or with one that does not run on the base, it installs the same wheels
with pip; a wheel that is not the one the lock names is refused either way; and the lent uv
leaves the context when the build ends, even a failed one."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from atelier.services.containers.installer import (
    TOOLS,
    install_script,
    installer_lent,
    write_tools,
)


def wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel, written by hand (no network, no build backend)."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("tinypkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def context(tmp_path: Path) -> Path:
    folder = tmp_path / "context"
    (folder / "wheels").mkdir(parents=True)
    write_tools(folder)
    made = wheel(folder / "wheels")
    sha = hashlib.sha256(made.read_bytes()).hexdigest()
    (folder / "requirements.lock").write_text(f"tinypkg==1.0 --hash=sha256:{sha}\n")
    return folder


def install(
    context: Path, env: Path, *, compile_bytecode: bool
) -> subprocess.CompletedProcess[str]:
    script = install_script(
        str(env),
        str(context / "requirements.lock"),
        compile_bytecode=compile_bytecode,
        tools=str(context / TOOLS),
        wheels=str(context / "wheels"),
    )
    # python3 is this interpreter's, as the base image's is the image's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=120,
        check=False,
    )


def imports(env: Path) -> str:
    done = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import tinypkg; print(tinypkg.VALUE)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_with_the_lent_uv_the_environment_has_no_pip_and_is_compiled(
    context: Path, tmp_path: Path
) -> None:
    from atelier.services.projects.uvtool import uv_binary

    with installer_lent(context):
        lent = context / TOOLS / "uv"
        assert lent.is_file()
        # A copy: nothing the build does to it can reach the uv Atelier itself runs.
        assert lent.stat().st_ino != Path(uv_binary()).stat().st_ino
        done = install(context, tmp_path / "env", compile_bytecode=True)
    assert done.returncode == 0, done.stderr
    assert imports(tmp_path / "env") == "42"
    assert not list((tmp_path / "env" / "bin").glob("pip*"))
    assert list((tmp_path / "env").rglob("tinypkg/__pycache__/*.pyc"))
    assert sorted(p.name for p in (context / TOOLS).iterdir()) == ["README.txt"]


def test_without_uv_or_with_one_that_cannot_run_pip_installs_the_same_wheels(
    context: Path, tmp_path: Path
) -> None:
    done = install(context, tmp_path / "plain", compile_bytecode=False)
    assert done.returncode == 0, done.stderr
    assert imports(tmp_path / "plain") == "42"
    assert list((tmp_path / "plain" / "bin").glob("pip*"))  # made by python3 -m venv
    assert not list((tmp_path / "plain").rglob("tinypkg/__pycache__"))  # --no-compile

    # A uv built for another platform than the base's: its --version fails, pip goes on.
    foreign = context / TOOLS / "uv"
    foreign.write_bytes(b"\x7fELF not for this machine")
    foreign.chmod(0o755)
    done = install(context, tmp_path / "foreign", compile_bytecode=True)
    assert done.returncode == 0, done.stderr
    assert imports(tmp_path / "foreign") == "42"
    assert list((tmp_path / "foreign" / "bin").glob("pip*"))


@pytest.mark.parametrize("lent", [True, False], ids=["uv", "pip"])
def test_a_wheel_that_is_not_the_locked_one_is_refused(
    context: Path, tmp_path: Path, lent: bool
) -> None:
    lock = context / "requirements.lock"
    lock.write_text(f"tinypkg==1.0 --hash=sha256:{'0' * 64}\n")
    if lent:
        with installer_lent(context):
            done = install(context, tmp_path / "env", compile_bytecode=False)
    else:
        done = install(context, tmp_path / "env", compile_bytecode=False)
    assert done.returncode != 0
    assert "hash" in (done.stderr + done.stdout).lower()
    assert not list((tmp_path / "env").rglob("tinypkg/__init__.py"))


def test_the_lent_uv_leaves_the_context_when_the_build_fails(context: Path) -> None:
    with pytest.raises(RuntimeError), installer_lent(context):
        assert (context / TOOLS / "uv").is_file()
        raise RuntimeError("the engine failed")
    assert sorted(p.name for p in (context / TOOLS).iterdir()) == ["README.txt"]


def test_without_a_uv_to_lend_the_build_goes_on_with_pip(
    context: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atelier.errors import AtelierError
    from atelier.services.projects import uvtool

    def missing() -> str:
        raise AtelierError("the uv binary was not found")

    monkeypatch.setattr(uvtool, "uv_binary", missing)
    with installer_lent(context):
        assert not (context / TOOLS / "uv").exists()
        done = install(context, tmp_path / "env", compile_bytecode=False)
    assert done.returncode == 0, done.stderr
    assert imports(tmp_path / "env") == "42"
    assert sorted(p.name for p in (context / TOOLS).iterdir()) == ["README.txt"]
