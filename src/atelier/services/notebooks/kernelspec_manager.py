"""Loaded inside each Jupyter server (not by Atelier itself): offer project kernels only.

The interpreter that runs JupyterLab is Atelier's own; its built-in "Python 3" kernel would
install into and run in Atelier's environment instead of a project's, so it is hidden.
"""

from __future__ import annotations

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

from atelier.services.notebooks.kernelspecs import PREFIX


class ProjectKernelSpecManager(KernelSpecManager):
    def find_kernel_specs(self) -> dict[str, str]:
        specs: dict[str, str] = super().find_kernel_specs()
        return {name: path for name, path in specs.items() if name.startswith(PREFIX)}

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if not kernel_name.startswith(PREFIX):
            raise NoSuchKernel(kernel_name)
        spec: KernelSpec = super().get_kernel_spec(kernel_name)
        return spec
