"""What the tests need from the machine, brought by ``make test`` where it can.

``python -m tests.prereqs`` installs the missing Debian packages when it runs as root with
apt (Chromium for the browser tests), starts the local PostgreSQL and MariaDB when they are
installed but stopped (as root), and prints ``export`` lines for the shell that runs pytest:
``ATELIER_TEST_POSTGRES_URL`` and ``ATELIER_TEST_MYSQL_URL``, when they are unset and a server
answers at the usual local address. What it cannot bring it names on stderr, with how to get
it; the tests that need it are then skipped with the same reason (and fail under ``CI``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys

#: Debian packages the tests use: (the file that shows it is installed, the package).
DEBIAN_PACKAGES = (
    ("/usr/bin/chromium", "chromium"),
    # Model images (tests/services/containers/test_images.py): the engine, the OCI runtime
    # podman uses on hosts where crun fails, the Debian base image, a registry to push to.
    ("/usr/bin/podman", "podman"),
    ("/usr/sbin/runc", "runc"),
    ("/usr/bin/mmdebstrap", "mmdebstrap"),
    ("/usr/bin/docker-registry", "docker-registry"),
)
#: Test servers: (variable, default URL, local address, Debian service, package).
SERVERS = (
    (
        "ATELIER_TEST_POSTGRES_URL",
        "postgresql://postgres@127.0.0.1:5432/test",
        ("127.0.0.1", 5432),
        "postgresql",
        "postgresql",
    ),
    (
        "ATELIER_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
        ("127.0.0.1", 3306),
        "mariadb",
        "mariadb-server",
    ),
)


def say(message: str) -> None:
    print(f"tests.prereqs: {message}", file=sys.stderr)


def is_root() -> bool:
    return os.geteuid() == 0


def install_packages() -> None:
    missing = [package for path, package in DEBIAN_PACKAGES if not os.path.exists(path)]
    if not missing:
        return
    names = " ".join(missing)
    if not (is_root() and shutil.which("apt-get")):
        say(f"missing Debian packages {names}: their tests are skipped; `apt-get install {names}`")
        return
    say(f"installing Debian packages {names}")
    environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environ)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env=environ,
        stdout=subprocess.DEVNULL,
    )


def answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


def usable(url: str, address: tuple[str, int]) -> bool:
    """Whether ``url`` lets the tests in (not only whether something listens there)."""
    if not answers(address):
        return False
    if url.startswith("postgresql://"):
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error:
            return False
        return True
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        return True  # nothing to ask it with: the tests will say if they are not let in
    host, port = address
    user, database = url.split("//")[1].split("@")[0], url.rsplit("/", 1)[1]
    asked = [client, "-h", host, "-P", str(port), "-u", user, "-e", "SELECT 1", database]
    return subprocess.run(asked, capture_output=True, check=False, timeout=20).returncode == 0


def start_service(service: str) -> None:
    """``service NAME start`` as root where the service is installed; quiet otherwise."""
    if is_root() and shutil.which("service") and os.path.exists(f"/etc/init.d/{service}"):
        say(f"starting {service}")
        subprocess.run(["service", service, "start"], check=False, capture_output=True)


def server_variables() -> dict[str, str]:
    found = {}
    for variable, url, address, service, package in SERVERS:
        if os.environ.get(variable):
            continue
        if not answers(address):
            start_service(service)
        if usable(url, address):
            found[variable] = url
        else:
            say(
                f"{variable} is unset and {url} does not let the tests in: the tests against "
                f"{service} are skipped; install and start it (`apt-get install {package}`) "
                f"or set {variable} to a server where they may create databases"
            )
    return found


def main() -> None:
    install_packages()
    for variable, value in server_variables().items():
        print(f"export {variable}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
