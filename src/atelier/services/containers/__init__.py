"""Container images of registered models: from a model version to a tested image in a registry.

::

    containers = wb.containers
    containers.build("churn@champion", by=ada)            # the image, offline from a wheelhouse
    containers.test("churn@champion", by=ada)["passed"]   # its answers against Atelier's own
    containers.push("churn@champion", "registry.example.org/team", by=ada)

* :mod:`.requirements` — what the image installs: the model's runtime closure at its lock's
  versions, downloaded as wheels on the host and checked against the lock's hashes;
* :mod:`.context` — the build context (Containerfile, lock, wheels, model, runtime, labels);
* :mod:`.runtime` — the serving runtime that goes *into* the image (stdlib + MLflow);
* :mod:`.engines` — podman, docker and buildah through their command lines;
* :mod:`.base` — the default base image, made from Debian packages (mmdebstrap);
* :mod:`.samples` — what a container test sends: the input example, recent predictions,
  validation rows;
* :mod:`.service` — build, test and push, with rights, audit and the results on the version.
"""

from atelier.services.containers.service import Containers

__all__ = ["Containers"]
