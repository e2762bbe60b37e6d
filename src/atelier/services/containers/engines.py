"""Container engines: podman, docker and buildah, driven through their command lines.

One small base class, :class:`Engine`, with one subclass per engine, chosen by name from
``containers.engine`` (``auto``: the first installed). Podman and docker share a command line;
buildah builds and pushes but does not run services, so a container test needs one of the
others.

The settings' ``oci_runtime`` (``runc`` where ``crun`` fails, as on hosts with hybrid cgroups)
and ``ulimits`` (hosts that refuse to raise limits) go on every build and run.

A container under test runs on an *internal* network (:data:`ISOLATED_NETWORK`): no route out,
no DNS to the world; the engine's host reaches it at its address on that network (port
publishing is not applied to internal networks by podman 4 nor docker, so ``-p`` would leave it
unreachable).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from abc import ABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from atelier.errors import AtelierError, InvalidInput

ISOLATED_NETWORK = "atelier-isolated"
#: The port the runtime listens on inside its container.
RUNTIME_PORT = 8080
BUILD_SECONDS = 3600
COMMAND_SECONDS = 600


@dataclass(frozen=True)
class ImageFacts:
    id: str
    size: int
    labels: dict[str, str]
    user: str
    env: list[str]


@dataclass(frozen=True)
class Running:
    """A started container: its id and the address its runtime answers at."""

    id: str
    address: str


class Engine(ABC):
    """One container engine's command line."""

    name: ClassVar[str]
    #: Whether it can run a service container (a container test).
    runs: ClassVar[bool] = True

    def __init__(self, binary: str, *, oci_runtime: str = "", ulimits: list[str] | None = None):
        self.binary = binary
        self.oci_runtime = oci_runtime
        self.ulimits = list(ulimits or ())

    # -- the command line ------------------------------------------------------------------

    def _limits(self) -> list[str]:
        return [f"--ulimit={u}" for u in self.ulimits]

    def _runtime(self) -> list[str]:
        return [f"--runtime={self.oci_runtime}"] if self.oci_runtime else []

    def _run(
        self, *args: str, timeout: float = COMMAND_SECONDS, what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [self.binary, *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise AtelierError(f"{self.name} took more than {timeout:.0f} s to {what}") from None
        if check and done.returncode != 0:
            raise AtelierError(f"{self.name} could not {what}: {_tail(done.stderr or done.stdout)}")
        return done

    # -- images ----------------------------------------------------------------------------

    def build_command(self, context: Path, tag: str) -> list[str]:
        return [
            "build",
            *self._runtime(),
            *self._limits(),
            "--network=none",
            "--file",
            str(context / "Containerfile"),
            "--tag",
            tag,
            str(context),
        ]

    def build(self, context: Path, tag: str) -> str:
        """Build the image of ``context`` as ``tag``; returns the build's output."""
        done = self._run(
            *self.build_command(context, tag),
            timeout=BUILD_SECONDS,
            what=f"build {tag}",
            check=False,
        )
        if done.returncode != 0:
            raise InvalidInput(
                f"the image {tag} did not build: {_tail(done.stderr or done.stdout, 2000)}"
            )
        return done.stdout

    def exists(self, image: str) -> bool:
        done = self._run("image", "inspect", image, what=f"inspect {image}", check=False)
        return done.returncode == 0

    def inspect(self, image: str) -> ImageFacts:
        done = self._run("image", "inspect", image, what=f"inspect {image}", check=False)
        if done.returncode != 0:
            raise AtelierError(
                f"no image {image} in {self.name}: build it with `atelier models build`"
            )
        found: Any = json.loads(done.stdout)
        data = found[0] if isinstance(found, list) else found
        config = data.get("Config") or {}
        return ImageFacts(
            id=str(data.get("Id") or ""),
            size=int(data.get("Size") or 0),
            labels=dict(config.get("Labels") or data.get("Labels") or {}),
            user=str(config.get("User") or ""),
            env=list(config.get("Env") or ()),
        )

    def import_tar(self, tar: Path, tag: str) -> None:
        self._run(
            "import",
            "--change",
            'CMD ["/usr/bin/python3"]',
            str(tar),
            tag,
            timeout=BUILD_SECONDS,
            what=f"import {tar} as {tag}",
        )

    def tag(self, image: str, target: str) -> None:
        self._run("tag", image, target, what=f"tag {image} as {target}")

    def push(self, image: str, target: str, *, tls_verify: bool = True) -> None:
        self._run(
            "push", *self._push_options(tls_verify), image, target,
            timeout=BUILD_SECONDS, what=f"push {image} to {target}",
        )  # fmt: skip

    def _push_options(self, tls_verify: bool) -> list[str]:
        return [] if tls_verify else ["--tls-verify=false"]

    def remove_image(self, image: str) -> None:
        self._run("rmi", "--force", image, what=f"remove {image}", check=False)

    def remove_if_unused(self, image_id: str) -> None:
        """Remove an image no tag or container uses any more (a replaced build)."""
        self._run("rmi", image_id, what=f"remove {image_id}", check=False)

    # -- containers ------------------------------------------------------------------------

    def ensure_network(self) -> None:
        done = self._run("network", "inspect", ISOLATED_NETWORK, what="inspect", check=False)
        if done.returncode != 0:
            created = self._run(
                "network", "create", "--internal", ISOLATED_NETWORK,
                what=f"create the internal network {ISOLATED_NETWORK}", check=False,
            )  # fmt: skip
            if (
                created.returncode != 0
                and not self._run(
                    "network", "inspect", ISOLATED_NETWORK, what="inspect", check=False
                ).returncode
                == 0
            ):
                raise AtelierError(
                    f"{self.name} could not create the internal network {ISOLATED_NETWORK}: "
                    f"{_tail(created.stderr)}"
                )

    def start_isolated(self, image: str) -> Running:
        """Start ``image`` on the internal network, read-only, with every capability dropped."""
        if not self.runs:
            raise InvalidInput(
                f"{self.name} builds images but does not run them: a container test needs "
                "podman or docker (containers.engine)"
            )
        self.ensure_network()
        started = self._run(
            "run", "--detach", *self._runtime(), *self._limits(),
            f"--network={ISOLATED_NETWORK}", "--read-only", "--tmpfs=/tmp",
            "--cap-drop=ALL", "--security-opt=no-new-privileges", image,
            what=f"start {image}",
        )  # fmt: skip
        container = started.stdout.strip().splitlines()[-1]
        try:
            address = self.address(container)
        except AtelierError:
            self.stop(container)
            raise
        return Running(container, f"http://{address}:{RUNTIME_PORT}")

    def address(self, container: str) -> str:
        done = self._run("inspect", container, what=f"inspect container {container}")
        data = json.loads(done.stdout)
        data = data[0] if isinstance(data, list) else data
        networks = ((data.get("NetworkSettings") or {}).get("Networks")) or {}
        found = (networks.get(ISOLATED_NETWORK) or {}).get("IPAddress")
        if not found:
            raise AtelierError(f"container {container} has no address on {ISOLATED_NETWORK}")
        return str(found)

    def logs(self, container: str) -> str:
        done = self._run("logs", container, what="read logs", check=False)
        return (done.stdout + done.stderr)[-4000:]

    def running(self, container: str) -> bool:
        done = self._run(
            "inspect", "--format", "{{.State.Running}}", container, what="inspect", check=False
        )
        return done.stdout.strip() == "true"

    def stop(self, container: str) -> None:
        self._run("rm", "--force", container, what=f"remove container {container}", check=False)


class Podman(Engine):
    name = "podman"


class Docker(Engine):
    name = "docker"

    def build_command(self, context: Path, tag: str) -> list[str]:
        # docker build takes no OCI runtime; the daemon's own is used.
        return [
            "build", *self._limits(), "--network=none",
            "--file", str(context / "Containerfile"), "--tag", tag, str(context),
        ]  # fmt: skip

    def _push_options(self, tls_verify: bool) -> list[str]:
        return []  # the daemon's insecure-registries decide


class Buildah(Engine):
    name = "buildah"
    runs = False

    def build_command(self, context: Path, tag: str) -> list[str]:
        return [
            "build", *self._runtime(), *self._limits(), "--network=none",
            "--file", str(context / "Containerfile"), "--tag", tag, str(context),
        ]  # fmt: skip

    def exists(self, image: str) -> bool:
        return (
            self._run("inspect", "--type", "image", image, what="inspect", check=False).returncode
            == 0
        )

    def inspect(self, image: str) -> ImageFacts:
        done = self._run("inspect", "--type", "image", image, what="inspect", check=False)
        if done.returncode != 0:
            raise AtelierError(f"no image {image} in buildah: build it with `atelier models build`")
        data = json.loads(done.stdout)
        config = (data.get("OCIv1") or {}).get("config") or {}
        return ImageFacts(
            id="sha256:" + str(data.get("FromImageID") or ""),
            size=0,
            labels=dict(config.get("Labels") or {}),
            user=str(config.get("User") or ""),
            env=list(config.get("Env") or ()),
        )

    def remove_image(self, image: str) -> None:
        self._run("rmi", "--force", image, what=f"remove {image}", check=False)


ENGINES: dict[str, type[Engine]] = {"podman": Podman, "docker": Docker, "buildah": Buildah}


def engine_for(name: str, *, oci_runtime: str = "", ulimits: list[str] | None = None) -> Engine:
    """The engine ``name`` (``auto``: the first of podman, docker, buildah installed)."""
    if name != "auto" and name not in ENGINES:
        raise InvalidInput(f"unknown container engine {name!r}: use podman, docker or buildah")
    for candidate in ENGINES if name == "auto" else (name,):
        binary = shutil.which(candidate)
        if binary:
            return ENGINES[candidate](binary, oci_runtime=oci_runtime, ulimits=ulimits)
    wanted = "podman, docker or buildah" if name == "auto" else name
    raise AtelierError(
        f"no container engine found ({wanted}): install one (Debian: apt-get install podman runc)"
    )


def _tail(text: str, limit: int = 800) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(lines[-6:])[-limit:] or "no message"
