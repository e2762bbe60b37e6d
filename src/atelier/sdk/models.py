"""``ws.models``: the model registry from Python, the same on both clients.

::

    ws.models.register(run_id, "churn", alias="champion")
    ws.models.set_alias("churn", "challenger", 3)
    model = ws.models.load("churn@champion")      # or "churn/3", or "churn" (the latest)
    ws.models.card("churn@champion")["data_versions"]
    ws.models.build("churn@champion")             # its container image (docs/containers.md)
    ws.models.test_container("churn@champion")["passed"]
    ws.models.push_image("churn@champion", "registry.example.org/team")
"""

from __future__ import annotations

import builtins
import json
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.containers import Containers
    from atelier.services.tracking.registry import Flavor
    from atelier.services.workbench import Workbench

_TOKEN_LOCK = threading.Lock()


class Models(ABC):
    """Registered models: register a run's model, aliases, cards, loading by reference."""

    @abstractmethod
    def register(
        self,
        run_id: str,
        name: str,
        *,
        alias: str | None = None,
        model: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Register the model run ``run_id`` logged as a new version of ``name``; ``alias``
        (e.g. ``"champion"``) is pointed at it. Returns the version."""

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        """Point ``alias`` of model ``name`` at ``version``."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None: ...

    @abstractmethod
    def list(self) -> list[dict[str, Any]]:
        """Every registered model: name, latest version, aliases, who registered it, when."""

    @abstractmethod
    def versions(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every version of ``name``, newest first."""

    @abstractmethod
    def card(self, reference: str) -> dict[str, Any]:
        """The model card of ``NAME@alias``, ``NAME/VERSION`` or ``NAME`` (latest): signature,
        metrics, parameters, data versions, environment lock, who registered it and when."""

    @abstractmethod
    def load(self, reference: str, *, flavor: Flavor = "auto") -> Any:
        """The model (a scikit-learn estimator, ...; ``flavor="pyfunc"`` for MLflow's
        generic wrapper) of ``NAME@alias``, ``NAME/VERSION`` or ``NAME``."""

    # -- images ---------------------------------------------------------------------------

    @abstractmethod
    def build(
        self,
        reference: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        """Build the container image of ``reference`` (its model, locked environment and a
        serving runtime) with the engine; returns the image's name, id, size and labels."""

    @abstractmethod
    def build_context(
        self, reference: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        """Write the image's build context (Containerfile, lock, wheels, model, runtime) to
        ``folder`` (new or empty), for a build elsewhere; builds nothing."""

    @abstractmethod
    def test_container(
        self,
        reference: str,
        *,
        image: str | None = None,
        engine: str | None = None,
        sample: int = 20,
    ) -> dict[str, Any]:
        """Start the version's image with no network and compare its answers with Atelier's
        (input example and ``sample`` recent predictions); the result is recorded."""

    @abstractmethod
    def push_image(
        self,
        reference: str,
        registry: str,
        *,
        force: bool = False,
        tls_verify: bool = True,
        engine: str | None = None,
    ) -> dict[str, Any]:
        """Push the version's tested image to ``registry`` (untested: only with ``force``)."""

    @abstractmethod
    def image(self, reference: str) -> dict[str, Any]:
        """``{"image", "test", "push"}``: what was built, tested and pushed for the version."""

    @abstractmethod
    def make_base_image(
        self, *, engine: str | None = None, rebuild: bool = False
    ) -> dict[str, Any]:
        """Make the default base image from Debian packages (admins)."""


class EmbeddedModels(Models):
    def __init__(self, workbench: Workbench, principal: Principal, client: str = "sdk") -> None:
        self._registry = workbench.models
        self._workbench = workbench
        self._principal = principal
        #: The entry point the audit log records (``sdk``, ``cli``).
        self._client = client

    @property
    def _containers(self) -> Containers:
        return self._workbench.containers

    def register(
        self,
        run_id: str,
        name: str,
        *,
        alias: str | None = None,
        model: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        return self._registry.register(
            run_id,
            name,
            by=self._principal,
            alias=alias,
            model=model,
            description=description,
            client=self._client,
        )

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        return self._registry.set_alias(
            name, alias, version, by=self._principal, client=self._client
        )

    def delete_alias(self, name: str, alias: str) -> None:
        self._registry.delete_alias(name, alias, by=self._principal, client=self._client)

    def list(self) -> list[dict[str, Any]]:
        return self._registry.list(by=self._principal)

    def versions(self, name: str) -> builtins.list[dict[str, Any]]:
        return self._registry.versions(name, by=self._principal)

    def card(self, reference: str) -> dict[str, Any]:
        return self._registry.card(reference, by=self._principal)

    def load(self, reference: str, *, flavor: Flavor = "auto") -> Any:
        self._registry.owners.check_writer(self._principal, "load registered models")
        return self._registry.load(reference, flavor=flavor)

    def build(
        self,
        reference: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        return self._containers.build(
            reference, by=self._principal, engine=engine, base=base, tag=tag, client=self._client
        )

    def build_context(
        self, reference: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        return self._containers.context(
            reference, Path(folder), by=self._principal, base=base, tag=tag, client=self._client
        )

    def test_container(
        self,
        reference: str,
        *,
        image: str | None = None,
        engine: str | None = None,
        sample: int = 20,
    ) -> dict[str, Any]:
        return self._containers.test(
            reference,
            by=self._principal,
            image=image,
            engine=engine,
            sample=sample,
            client=self._client,
        )

    def push_image(
        self,
        reference: str,
        registry: str,
        *,
        force: bool = False,
        tls_verify: bool = True,
        engine: str | None = None,
    ) -> dict[str, Any]:
        return self._containers.push(
            reference,
            registry,
            by=self._principal,
            force=force,
            tls_verify=tls_verify,
            engine=engine,
            client=self._client,
        )

    def image(self, reference: str) -> dict[str, Any]:
        self._registry.owners.check_writer(self._principal, "see registered models")
        return self._containers.status(reference)

    def make_base_image(
        self, *, engine: str | None = None, rebuild: bool = False
    ) -> dict[str, Any]:
        return self._containers.make_base_image(
            by=self._principal, engine=engine, rebuild=rebuild, client=self._client
        )


class RemoteModels(Models):
    """Over the REST API; model files come through the server's ``/mlflow`` (MLflow's API)."""

    def __init__(self, client: Transport, token: str) -> None:
        self._client = client
        self._token = token

    def register(
        self,
        run_id: str,
        name: str,
        *,
        alias: str | None = None,
        model: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "run_id": run_id,
            "name": name,
            "alias": alias,
            "model": model,
            "description": description,
        }
        return _version(self._client.request("POST", "/models", json=body).json())

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        found = self._client.request(
            "PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": version}
        ).json()
        return _version(found)

    def delete_alias(self, name: str, alias: str) -> None:
        self._client.request("DELETE", f"/models/{_q(name)}/aliases/{_q(alias)}")

    def list(self) -> list[dict[str, Any]]:
        from atelier.contract.models import RegisteredModel

        listed = self._client.request("GET", "/models").json()
        return [RegisteredModel.model_validate(m).model_dump(mode="json") for m in listed]

    def versions(self, name: str) -> builtins.list[dict[str, Any]]:
        listed = self._client.request("GET", f"/models/{_q(name)}/versions").json()
        return [_version(v) for v in listed]

    def card(self, reference: str) -> dict[str, Any]:
        from atelier.contract.models import ModelCard
        from atelier.services.tracking.references import parse_reference

        ref = parse_reference(reference)
        params: dict[str, Any] = {}
        if ref.alias is not None:
            params["alias"] = ref.alias
        elif ref.version is not None:
            params["version"] = ref.version
        found = self._client.request("GET", f"/models/{_q(ref.name)}/card", params=params).json()
        return ModelCard.model_validate(found).model_dump(mode="json")

    def load(self, reference: str, *, flavor: Flavor = "auto") -> Any:
        import mlflow.artifacts

        from atelier.services.tracking.references import parse_reference
        from atelier.services.tracking.registry import load_from

        version = self.card(reference)["version"]  # also: a clear error for unknown names
        name = parse_reference(reference).name
        target = tempfile.mkdtemp(prefix="atelier-model-")
        # MLflow's client takes its credentials from the environment only.
        with _TOKEN_LOCK:
            saved = os.environ.get("MLFLOW_TRACKING_TOKEN")
            os.environ["MLFLOW_TRACKING_TOKEN"] = self._token
            try:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}",
                    dst_path=target,
                    tracking_uri=f"{self._client.url}/mlflow",
                )
            finally:
                if saved is None:
                    os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
                else:
                    os.environ["MLFLOW_TRACKING_TOKEN"] = saved
        return load_from(Path(path), flavor)

    def _image_path(self, reference: str, tail: str = "") -> tuple[str, dict[str, Any]]:
        from atelier.services.tracking.references import parse_reference

        ref = parse_reference(reference)
        params: dict[str, Any] = {}
        if ref.alias is not None:
            params["alias"] = ref.alias
        elif ref.version is not None:
            params["version"] = ref.version
        return f"/models/{_q(ref.name)}/image{tail}", params

    def build(
        self,
        reference: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        from atelier.contract.images import ImageBuilt

        path, params = self._image_path(reference)
        body = {"engine": engine, "base": base, "tag": tag}
        found = self._client.request("POST", path, params=params, json=body, timeout=None)
        return ImageBuilt.model_validate(found.json()).model_dump(mode="json")

    def build_context(
        self, reference: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        from atelier.sdk.contexts import receive_context

        path, params = self._image_path(reference, "/context")
        params.update({k: v for k, v in {"base": base, "tag": tag}.items() if v is not None})
        target = receive_context(self._client, path, params, folder)
        info = json.loads((target / "model-info.json").read_text())
        return {
            "model": info.get("name"),
            "version": info.get("version"),
            "image": tag,
            "folder": str(target),
        }

    def test_container(
        self,
        reference: str,
        *,
        image: str | None = None,
        engine: str | None = None,
        sample: int = 20,
    ) -> dict[str, Any]:
        from atelier.contract.images import ImageTested

        path, params = self._image_path(reference, "/test")
        body = {"image": image, "engine": engine, "sample": sample}
        found = self._client.request("POST", path, params=params, json=body, timeout=None)
        return ImageTested.model_validate(found.json()).model_dump(mode="json")

    def push_image(
        self,
        reference: str,
        registry: str,
        *,
        force: bool = False,
        tls_verify: bool = True,
        engine: str | None = None,
    ) -> dict[str, Any]:
        from atelier.contract.images import ImagePushed

        path, params = self._image_path(reference, "/push")
        body = {"registry": registry, "force": force, "tls_verify": tls_verify, "engine": engine}
        found = self._client.request("POST", path, params=params, json=body, timeout=None)
        return ImagePushed.model_validate(found.json()).model_dump(mode="json")

    def image(self, reference: str) -> dict[str, Any]:
        from atelier.contract.images import ImageStatus

        path, params = self._image_path(reference)
        found = self._client.request("GET", path, params=params)
        return ImageStatus.model_validate(found.json()).model_dump(mode="json")

    def make_base_image(
        self, *, engine: str | None = None, rebuild: bool = False
    ) -> dict[str, Any]:
        from atelier.contract.images import BaseImageMade

        body = {"engine": engine, "rebuild": rebuild}
        found = self._client.request("POST", "/models/base-image", json=body, timeout=None)
        return BaseImageMade.model_validate(found.json()).model_dump(mode="json")


def _q(part: str) -> str:
    """One path segment: ``/`` and the rest quoted."""
    return quote(part, safe="")


def _version(found: dict[str, Any]) -> dict[str, Any]:
    from atelier.contract.models import ModelVersion

    return ModelVersion.model_validate(found).model_dump(mode="json")
