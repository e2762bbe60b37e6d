"""Images of registered models: build, test against Atelier's own answers, push.

Every action names a registered version (``churn@champion``, ``churn/3``) and the acting
:class:`Principal`; only the model's owner or an admin may make, test or push its image (the
base image: admins), checked before any side effect, and each action is audited
(``model.image.context|build|test|push``, ``model.image.base``).

What happened is kept on the MLflow model version as tags (JSON values), so the model card
shows it and no table is needed: :data:`IMAGE_TAG` (the image built: name, id, size, lock),
:data:`TEST_TAG` (the last container test: pass or fail, latency, image id and size) and
:data:`PUSH_TAG` (where it was pushed).

A **container test** starts the image on an internal network (no way out), sends the model's
input example and a sample of its recent predictions, topped up with validation rows when it
served fewer (:mod:`.samples`), one by one and as one batch; it checks that a record the
signature refuses is a 422, and compares every answer with what Atelier's own serving answers
for the same records (prediction equal; probabilities within 1e-6). The result says how many
records came from each place (``sources``).

**Build contexts** are written to a private temporary folder (the engine builds from local
disk) and removed after the build. With ``[storage]``, the context an image was built from is
kept in the bucket (``<prefix>/images/models/<model>-<hash>/v<version>/context.tar.gz``, with
``context.json``: image, base, lock): any server of the workspace then answers a request for
that version's context (same base and tag) with the very archive the recorded image came
from, without making it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import statistics
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.containers import base as base_image
from atelier.services.containers import context as contexts
from atelier.services.containers import samples
from atelier.services.containers.engines import Engine, Running, engine_for
from atelier.services.containers.installer import installer_lent
from atelier.services.storage import Files
from atelier.services.tracking.references import Reference, parse_reference
from atelier.services.tracking.registry import CONTAINER_TEST_TAG

if TYPE_CHECKING:
    from atelier.config.settings import ContainerSettings
    from atelier.services.auth import AuditLog, Principal
    from atelier.services.serving import ModelServer
    from atelier.services.tracking.registry import ModelRegistry, VersionInfo

log = logging.getLogger(__name__)

IMAGE_TAG = "atelier.image"
TEST_TAG = CONTAINER_TEST_TAG
PUSH_TAG = "atelier.image.push"
#: Recent predictions sent in a container test (besides the input example).
SAMPLE = 20
#: How long a container may take to answer /health.
START_SECONDS = 120.0
#: Probabilities within this are the same answer.
TOLERANCE = 1e-6


class Containers:
    """Model images of one workspace."""

    def __init__(
        self,
        registry: ModelRegistry,
        serving: ModelServer,
        settings: ContainerSettings,
        *,
        work_dir: Path,
        audit: AuditLog | None = None,
        files: Files | None = None,
    ) -> None:
        """``work_dir``: where build contexts are staged and the base image's tar is kept;
        ``files``: where built images' contexts are kept (the bucket's ``images/``)."""
        self.registry = registry
        self.serving = serving
        self.settings = settings
        self.work_dir = work_dir
        self.audit = audit
        self.files = files or Files(work_dir / "contexts", None, "images")

    # -- rights ------------------------------------------------------------------------------

    def _check(self, by: Principal, name: str, action: str) -> None:
        owners = self.registry.owners
        owners.check_writer(by, action)
        owned = owners.model(name)
        if by.role != "admin" and owned.owner != by.name:
            owner = f"owned by {owned.owner}" if owned.owner else "with no recorded owner"
            raise PermissionDenied(
                f"{by.name} may not {action} of model {name!r} ({owner}): images are made, "
                "tested and pushed by a model's owner and admins"
            )

    def _record(
        self, action: str, by: Principal, what: str, client: str | None, **detail: Any
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                action, actor=by.name, target=what, client=client or by.via, detail=detail
            )

    # -- engines and the base image ----------------------------------------------------------

    def engine(self, name: str | None = None) -> Engine:
        return engine_for(
            name or self.settings.engine,
            oci_runtime=self.settings.oci_runtime,
            ulimits=self.settings.ulimits,
        )

    @property
    def base_tar(self) -> Path:
        return self.work_dir / "base" / f"{base_image.SUITE}.tar"

    def make_base_image(
        self,
        *,
        by: Principal,
        engine: str | None = None,
        rebuild: bool = False,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Make the default base image (admins only: it changes the host's image store)."""
        if by.role != "admin":
            raise PermissionDenied(
                f"{by.name} ({by.role}) may not make the base image: admins only"
            )
        chosen = self.engine(engine)
        done = base_image.ensure(chosen, tar=self.base_tar, rebuild=rebuild)
        self._record("model.image.base", by, base_image.DEFAULT_BASE, client, engine=chosen.name)
        return {"image": base_image.DEFAULT_BASE, "engine": chosen.name, "message": done}

    # -- context and build -------------------------------------------------------------------

    def _version(self, reference: str | Reference) -> VersionInfo:
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        return self.registry.resolve(ref)

    def _write_context(
        self, info: VersionInfo, target: Path, base: str, tag: str
    ) -> contexts.Context:
        card = self.registry.card(f"{info.name}/{info.version}")
        cache = self.work_dir / "wheelhouses"
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        return contexts.write(
            info.path,
            target,
            name=info.name,
            version=info.version,
            run_id=info.run_id,
            data_versions=card.get("data_versions") or [],
            base=base,
            tag=tag,
            cache=cache,
        )

    def context(
        self,
        reference: str | Reference,
        target: Path,
        *,
        by: Principal,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Write the build context of ``reference`` to folder ``target``; build nothing."""
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        self._check(by, ref.name, "write the image context")
        info = self._version(ref)
        chosen_tag = contexts.check_tag(tag or contexts.default_tag(info.name, info.version))
        made = self._write_context(info, target, base or self.settings.base_image, chosen_tag)
        self._record(
            "model.image.context", by, f"{info.name}/{info.version}", client, folder=str(target)
        )
        return {
            "model": info.name,
            "version": info.version,
            "image": chosen_tag,
            "folder": str(made.folder),
            "labels": made.labels,
        }

    def context_archive(
        self,
        reference: str | Reference,
        *,
        by: Principal,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> tuple[Path, dict[str, Any]]:
        """The build context of ``reference`` as a gzipped tar in a private folder of its own
        (``archive.parent``: the caller removes it once the file is sent), and what
        :meth:`context` says of it. Rights are checked before anything is written."""
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        self._check(by, ref.name, "write the image context")
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(dir=self.work_dir, prefix="download-"))
        try:
            kept = self._kept_context(ref, folder / "context.tar.gz", base, tag)
            if kept is not None:
                what = f"{kept['model']}/{kept['version']}"
                self._record("model.image.context", by, what, client, kept=True)
                return folder / "context.tar.gz", kept
            made = self.context(ref, folder / "context", by=by, base=base, tag=tag, client=client)
            archive = folder / "context.tar.gz"
            with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
                tar.add(folder / "context", arcname=".")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return archive, made

    def build(
        self,
        reference: str | Reference,
        *,
        by: Principal,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Build the image of ``reference`` with the engine; record it on the version."""
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        self._check(by, ref.name, "build the image")
        info = self._version(ref)
        chosen_tag = contexts.check_tag(tag or contexts.default_tag(info.name, info.version))
        chosen_base = base or self.settings.base_image
        builder = self.engine(engine)
        if chosen_base == base_image.DEFAULT_BASE:
            base_image.ensure(builder, tar=self.base_tar)
        previous = builder.inspect(chosen_tag).id if builder.exists(chosen_tag) else None
        started = time.perf_counter()
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="context-") as folder:
            made = self._write_context(info, Path(folder) / "context", chosen_base, chosen_tag)
            with installer_lent(made.folder):
                builder.build(made.folder, chosen_tag)
            if self.files.shared:
                self._keep_context(info, made, chosen_base, Path(folder) / "context.tar.gz")
        facts = builder.inspect(chosen_tag)
        if previous and previous != facts.id:
            builder.remove_if_unused(previous)  # the image this build replaced under its name
        built = {
            "model": info.name,
            "version": info.version,
            "image": chosen_tag,
            "image_id": facts.id,
            "size": facts.size,
            "engine": builder.name,
            "base": chosen_base,
            "lock_sha256": made.lock_sha256,
            "labels": made.labels,
            "seconds": round(time.perf_counter() - started, 1),
            "built_by": by.name,
            "built_at": _now(),
        }
        self._set_tag(info, IMAGE_TAG, {k: v for k, v in built.items() if k != "labels"})
        self._record(
            "model.image.build", by, f"{info.name}/{info.version}", client,
            image=chosen_tag, image_id=facts.id, engine=builder.name,
        )  # fmt: skip
        return built

    # -- contexts kept in the bucket -----------------------------------------------------

    def _keep_context(
        self, info: VersionInfo, made: contexts.Context, base: str, archive: Path
    ) -> None:
        """Keep the context an image was just built from in the bucket (the archive, then
        what it is: a reader never finds the description without the archive). A failure
        is logged: the image is built either way."""
        try:
            with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
                tar.add(made.folder, arcname=".")
            key = _context_key(info.name, info.version)
            self.files.save(f"{key}/context.tar.gz", archive)
            facts = {
                "model": info.name,
                "version": info.version,
                "image": made.tag,
                "base": base,
                "lock_sha256": made.lock_sha256,
                "labels": made.labels,
            }
            self.files.put_text(f"{key}/context.json", json.dumps(facts))
        except Exception:
            log.warning("could not keep the build context of %s/%s", info.name, info.version)

    def _kept_context(
        self, ref: Reference, archive: Path, base: str | None, tag: str | None
    ) -> dict[str, Any] | None:
        """What :meth:`context` says of the version's kept context, downloaded to
        ``archive``, when the bucket has the one built with this base and tag; else None."""
        if not self.files.shared:
            return None
        info = self._version(ref)
        key = _context_key(info.name, info.version)
        wanted = contexts.check_tag(tag or contexts.default_tag(info.name, info.version))
        try:
            facts = json.loads(self.files.get_text(f"{key}/context.json") or "null")
            if (
                not isinstance(facts, dict)
                or facts.get("image") != wanted
                or facts.get("base") != (base or self.settings.base_image)
                or self.files.load(f"{key}/context.tar.gz", archive) is None
            ):
                return None
        except Exception:  # made again below, as without a bucket
            log.warning("could not read the kept context of %s/%s", info.name, info.version)
            return None
        return {
            "model": info.name,
            "version": info.version,
            "image": wanted,
            "folder": str(archive),
            "labels": dict(facts.get("labels") or {}),
        }

    # -- facts -------------------------------------------------------------------------------

    def status(self, reference: str | Reference) -> dict[str, Any]:
        """``{"image", "test", "push"}`` recorded on the version (None where not done); read
        from the registry alone (the model's files are not fetched: the card shows this)."""
        from mlflow.exceptions import MlflowException

        ref = parse_reference(reference) if isinstance(reference, str) else reference
        client = self.registry.client
        try:
            if ref.alias is not None:
                found = client.get_model_version_by_alias(ref.name, ref.alias)
            else:
                number = ref.version or self.registry.versions(ref.name)[0]["version"]
                found = client.get_model_version(ref.name, str(number))
        except (MlflowException, IndexError):
            raise NotFound(f"no model version {ref.name}{_suffix(ref)}") from None
        tags = found.tags or {}
        return {
            "image": _json_tag(tags.get(IMAGE_TAG)),
            "test": _json_tag(tags.get(TEST_TAG)),
            "push": _json_tag(tags.get(PUSH_TAG)),
        }

    def _set_tag(self, info: VersionInfo, key: str, value: Mapping[str, Any]) -> None:
        text = json.dumps(value, separators=(",", ":"), default=str)
        self.registry.client.set_model_version_tag(info.name, str(info.version), key, text)

    def _image_of(self, info: VersionInfo, image: str | None) -> str:
        if image:
            return contexts.check_tag(image)
        built = _json_tag(info.tags.get(IMAGE_TAG))
        if not built or not built.get("image"):
            raise InvalidInput(
                f"{info.name}/{info.version} has no image yet: build it with "
                f"`atelier models build {info.name}/{info.version}`"
            )
        return str(built["image"])

    # -- the container test ------------------------------------------------------------------

    def test(
        self,
        reference: str | Reference,
        *,
        by: Principal,
        image: str | None = None,
        engine: str | None = None,
        sample: int = SAMPLE,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Run the image and compare its answers with Atelier's; the result is recorded."""
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        self._check(by, ref.name, "test the image")
        info = self._version(ref)
        chosen = self._image_of(info, image)
        runner = self.engine(engine)
        facts = runner.inspect(chosen)
        held = (facts.labels.get(f"{contexts.LABEL_PREFIX}.model"),
                facts.labels.get(f"{contexts.LABEL_PREFIX}.model.version"))  # fmt: skip
        if held != (info.name, str(info.version)):
            raise Conflict(
                f"the image {chosen} holds {held[0] or '?'}/{held[1] or '?'}, not "
                f"{info.name}/{info.version}"
            )
        model = self.serving.model(Reference(info.name, version=info.version))
        schema = model.schema
        if schema is None:
            raise InvalidInput(f"{info.name}/{info.version} has no column signature to test")
        records, sources = self.test_records(model, info, sample)
        if not records:
            raise InvalidInput(
                f"{info.name}/{info.version} has no input example, no recent predictions and "
                "no readable training rows to test with: log it with an input_example"
            )
        expected = [_answer(o) for o in model.predict(schema.frame(schema.validate(list(records))))]
        result = self._run_test(runner, chosen, records, expected, schema.names())
        result.update(
            {
                "model": info.name,
                "version": info.version,
                "image": chosen,
                "image_id": facts.id,
                "size": facts.size,
                "engine": runner.name,
                "records": len(records),
                "sources": sources,
                "sampled": samples.describe(sources),
                "tested_by": by.name,
                "tested_at": _now(),
            }
        )
        self._set_tag(info, TEST_TAG, {k: v for k, v in result.items() if k != "logs"})
        self._record(
            "model.image.test", by, f"{info.name}/{info.version}", client,
            image=chosen, image_id=facts.id, passed=result["passed"],
        )  # fmt: skip
        return result

    def test_records(
        self, model: Any, info: VersionInfo, sample: int = SAMPLE
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """What a container test of ``model`` (``info``) sends, and how many records came from
        where (:func:`.samples.gather`)."""
        return samples.gather(self.serving, self.registry, model, info, sample)

    def _run_test(
        self,
        runner: Engine,
        image: str,
        records: Sequence[Mapping[str, Any]],
        expected: Sequence[Mapping[str, Any]],
        fields: str,
    ) -> dict[str, Any]:
        import httpx

        started = time.perf_counter()
        running = runner.start_isolated(image)
        mismatches: list[str] = []
        latencies: list[float] = []
        first: float | None = None
        try:
            with httpx.Client(timeout=30.0) as http:
                self._wait_healthy(runner, running, http)
                for index, (record, want) in enumerate(zip(records, expected, strict=True)):
                    sent = time.perf_counter()
                    response = http.post(f"{running.address}/predict", json=record)
                    latencies.append((time.perf_counter() - sent) * 1000)
                    if first is None:
                        first = time.perf_counter() - started
                    problem = _compare(index, response, want)
                    if problem:
                        mismatches.append(problem)
                batch = http.post(f"{running.address}/predict", json={"records": list(records)})
                if batch.status_code != 200:
                    mismatches.append(f"batch: status {batch.status_code}: {batch.text[:200]}")
                else:
                    for index, (got, want) in enumerate(
                        zip(batch.json().get("predictions") or [], expected, strict=False)
                    ):
                        problem = _differs(got, want)
                        if problem:
                            mismatches.append(f"batch record {index}: {problem}")
                refused = http.post(f"{running.address}/predict", json={"records": [{}]})
                if fields and refused.status_code != 422:
                    mismatches.append(
                        f"a record without its fields got status {refused.status_code}, not 422"
                    )
            logs = ""
        except (httpx.HTTPError, AtelierError) as error:
            mismatches.append(f"the container did not answer: {error}")
            logs = runner.logs(running.id)
        finally:
            runner.stop(running.id)
        return {
            "passed": not mismatches,
            "mismatches": mismatches[:20],
            "start_to_first_prediction_seconds": round(first, 3) if first is not None else None,
            "latency_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
            "latency_ms_max": round(max(latencies), 2) if latencies else None,
            "logs": logs,
        }

    def _wait_healthy(self, runner: Engine, running: Running, http: Any) -> None:
        import httpx

        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if http.get(f"{running.address}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not runner.running(running.id):
                raise AtelierError(f"the container stopped: {runner.logs(running.id)[-1500:]}")
            time.sleep(0.1)
        raise AtelierError(f"the container did not answer /health within {START_SECONDS:.0f} s")

    # -- push ---------------------------------------------------------------------------------

    def push(
        self,
        reference: str | Reference,
        registry: str,
        *,
        by: Principal,
        force: bool = False,
        tls_verify: bool = True,
        engine: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Push the version's tested image to ``registry`` (``host[:port][/path]``) as
        ``registry/<name>:v<version>``. An image whose last container test did not pass (or
        that changed since) is refused unless ``force``."""
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        self._check(by, ref.name, "push the image")
        info = self._version(ref)
        chosen = self._image_of(info, None)
        registry = registry.strip().rstrip("/")
        if not registry or "://" in registry:
            raise InvalidInput(
                f"{registry!r} is not a registry: give host[:port][/path], e.g. "
                "registry.example.org/team"
            )
        pusher = self.engine(engine)
        facts = pusher.inspect(chosen)
        tested = _json_tag(info.tags.get(TEST_TAG)) or {}
        untested = not tested.get("passed") or tested.get("image_id") != facts.id
        if untested and not force:
            why = (
                "has no passing container test"
                if not tested.get("passed")
                else "changed since its container test"
            )
            raise Conflict(
                f"the image {chosen} of {info.name}/{info.version} {why}: run `atelier models "
                f"test-container {info.name}/{info.version}` (or push with --force)"
            )
        target = contexts.check_tag(f"{registry}/{chosen.split('/')[-1]}")
        pusher.push(chosen, target, tls_verify=tls_verify)
        pushed = {
            "image": chosen,
            "target": target,
            "image_id": facts.id,
            "tested": not untested,
            "pushed_by": by.name,
            "pushed_at": _now(),
        }
        self._set_tag(info, PUSH_TAG, pushed)
        self._record(
            "model.image.push", by, f"{info.name}/{info.version}", client,
            target=target, image_id=facts.id, forced=bool(untested and force),
        )  # fmt: skip
        return pushed


def _suffix(ref: Reference) -> str:
    if ref.alias is not None:
        return f"@{ref.alias}"
    return f"/{ref.version}" if ref.version is not None else ""


def _answer(output: Any) -> dict[str, Any]:
    found = {"prediction": output.prediction, "probability": output.probability}
    if output.probabilities is not None:
        found["probabilities"] = output.probabilities
    return found


def _compare(index: int, response: Any, want: Mapping[str, Any]) -> str | None:
    if response.status_code != 200:
        return f"record {index}: status {response.status_code}: {response.text[:200]}"
    problem = _differs(response.json(), want)
    return f"record {index}: {problem}" if problem else None


def _differs(got: Mapping[str, Any], want: Mapping[str, Any]) -> str | None:
    if not _same(got.get("prediction"), want.get("prediction")):
        return f"predicted {got.get('prediction')!r}, Atelier {want.get('prediction')!r}"
    if not _same(got.get("probability"), want.get("probability")):
        return f"probability {got.get('probability')!r}, Atelier {want.get('probability')!r}"
    theirs, ours = got.get("probabilities"), want.get("probabilities")
    if (theirs is None) != (ours is None) or (
        theirs is not None
        and ours is not None
        and (set(theirs) != set(ours) or any(not _same(theirs[k], ours[k]) for k in ours))
    ):
        return "class probabilities differ from Atelier's"
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(a == b)


def _json_tag(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _context_key(name: str, version: int) -> str:
    """``models/<readable name>-<hash of the name>/v<version>``: one folder per version."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "model"
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"models/{readable}-{digest}/v{version}"
