"""Build the sandbox image (Python 3 + g++), choosing the way automatically.

With a reachable registry: ``docker build`` of sandbox/Dockerfile. Without one (the default on
these machines): an image imported from a root filesystem made of this machine's installed
Debian packages for python3 and g++ and everything they depend on, plus <bits/stdc++.h>
precompiled by this machine's g++ (the same package); nothing is downloaded.
Both ways label the image with a recipe hash, so building again is a no-op until it changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandbox.docker import DEFAULT_IMAGE
from sandbox.languages import CPP_FLAGS

DOCKERFILE = Path(__file__).with_name("Dockerfile")
RECIPE_LABEL = "thoughtmill.recipe"
OFFLINE_RECIPE_VERSION = "2"  # 2: precompiled <bits/stdc++.h>
# sortedcontainers: LeetCode's Python has it, and some accepted solutions import it.
OFFLINE_ROOT_PACKAGES = (
    "python3-minimal", "libpython3-stdlib", "python3-sortedcontainers", "g++", "dash",
)  # fmt: skip
MERGED_USR_LINKS = ("bin", "lib", "lib64", "sbin")
EMPTY_DIRS = {"tmp": 0o1777, "proc": 0o755, "sys": 0o755, "dev": 0o755, "etc": 0o755}
ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


class ImageBuildError(RuntimeError):
    pass


def build_image(
    image: str = DEFAULT_IMAGE,
    method: str = "auto",
    force: bool = False,
    say: Callable[[str], None] = print,
) -> str:
    """Make sure ``image`` exists and is current; returns how (``dockerfile``, ``offline``,
    or ``up to date``)."""
    if method not in ("auto", "dockerfile", "offline"):
        raise ValueError(f"unknown build method {method!r}; use auto, dockerfile or offline")
    current = _label(image)
    if not force and current is not None and current in _known_recipes(method):
        say(f"{image} is up to date (recipe {current})")
        return "up to date"
    if method == "auto":
        method = "dockerfile" if _base_image_available(say) else "offline"
    if method == "dockerfile":
        _build_from_dockerfile(image, say)
    else:
        _build_offline(image, say)
    say(f"built {image} ({method})")
    return method


# -- recipes


def _known_recipes(method: str) -> set[str]:
    recipes = set()
    if method in ("auto", "dockerfile"):
        recipes.add(_dockerfile_recipe())
    if method in ("auto", "offline"):
        with contextlib.suppress(ImageBuildError):
            recipes.add(_offline_recipe(_package_closure()))
    return recipes


def _dockerfile_recipe() -> str:
    return "dockerfile-" + hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest()[:16]


def _offline_recipe(packages: list[str]) -> str:
    text = OFFLINE_RECIPE_VERSION + "\n" + "\n".join(packages)
    return "offline-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _label(image: str) -> str | None:
    template = '{{index .Config.Labels "' + RECIPE_LABEL + '"}}'
    result = _docker("image", "inspect", "--format", template, image, check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


# -- from the Dockerfile


def _base_image_available(say: Callable[[str], None]) -> bool:
    base = next(
        line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM")
    )
    if _docker("image", "inspect", base, check=False).returncode == 0:
        return True
    pulled = _docker("pull", base, check=False, timeout=600)
    if pulled.returncode != 0:
        say(f"no registry: cannot pull {base} ({pulled.stdout.strip()[-200:]}); building offline")
    return pulled.returncode == 0


def _build_from_dockerfile(image: str, say: Callable[[str], None]) -> None:
    say(f"building {image} from {DOCKERFILE}")
    _docker(
        "build", "--label", f"{RECIPE_LABEL}={_dockerfile_recipe()}", "--tag", image,
        "--file", str(DOCKERFILE), str(DOCKERFILE.parent), timeout=1800,
    )  # fmt: skip


# -- offline, from this machine's Debian packages


def _build_offline(image: str, say: Callable[[str], None]) -> None:
    packages = _package_closure()
    files = _package_files([package.split("=")[0] for package in packages])
    say(f"building {image} offline from {len(packages)} installed Debian packages")
    with tempfile.TemporaryDirectory() as scratch:
        extra = dict([_precompiled_header(files, scratch)])
        _import_rootfs(image, packages, files, extra)


def _precompiled_header(files: list[str], scratch: str) -> tuple[str, str]:
    """(path in the image, built file) of <bits/stdc++.h> precompiled by this machine's g++,
    the very compiler the image gets."""
    header = next(path for path in files if path.endswith("/bits/stdc++.h"))
    built = os.path.join(scratch, "stdc++.h.gch")
    subprocess.run(["g++", *CPP_FLAGS, "-x", "c++-header", header, "-o", built], check=True)
    return header + ".gch", built


def _import_rootfs(image: str, packages: list[str], files: list[str], extra: dict) -> None:
    """Pipe the root filesystem (package files plus ``extra``: image path -> local file)
    into ``docker import``."""
    importer = subprocess.Popen(
        [
            "docker", "import", "--change", f"LABEL {RECIPE_LABEL}={_offline_recipe(packages)}",
            "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-", image,
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    with tarfile.open(fileobj=importer.stdin, mode="w|") as tar:
        _write_rootfs(tar, files)
        for path, local in extra.items():
            tar.add(local, arcname=path.lstrip("/"))
    importer.stdin.close()
    output = importer.stdout.read().decode(errors="replace")
    if importer.wait() != 0:
        raise ImageBuildError(f"docker import failed: {output.strip()}")


def _package_closure() -> list[str]:
    """``name=version`` of the root packages and every installed package they depend on."""
    depends = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
         *OFFLINE_ROOT_PACKAGES],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    names = {
        line.strip()
        for line in depends.stdout.splitlines()
        if line and not line.startswith((" ", "<"))
    }
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}=${Version} ${db:Status-Status}\n", *sorted(names)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    installed = sorted(
        line.split()[0] for line in query.stdout.splitlines() if line.endswith(" installed")
    )
    missing = set(OFFLINE_ROOT_PACKAGES) - {package.split("=")[0] for package in installed}
    if depends.returncode != 0 or missing:
        raise ImageBuildError(
            f"offline build needs these Debian packages installed: {', '.join(sorted(missing))} "
            "(apt-get install -y --no-install-recommends python3 python3-sortedcontainers g++)"
        )
    return installed


def _package_files(packages: list[str]) -> list[str]:
    """Every file, link and folder the packages installed, as paths with real parent folders."""
    listing = subprocess.run(
        ["dpkg-query", "-L", *packages], capture_output=True, text=True, check=True
    ).stdout
    paths = set()
    for line in listing.splitlines():
        if not line.startswith("/") or line == "/.":
            continue
        parent, name = os.path.split(line)
        path = os.path.join(os.path.realpath(parent), name)
        if os.path.lexists(path) and path.strip("/") not in _MADE_HERE:
            paths.add(path)
    return sorted(paths)


_MADE_HERE = {*MERGED_USR_LINKS, *EMPTY_DIRS}


def _write_rootfs(tar: tarfile.TarFile, files: list[str]) -> None:
    for name in MERGED_USR_LINKS:
        if os.path.islink(f"/{name}"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, os.readlink(f"/{name}").lstrip("/")
            tar.addfile(link)
    for name, mode in EMPTY_DIRS.items():
        folder = tarfile.TarInfo(name)
        folder.type, folder.mode = tarfile.DIRTYPE, mode
        tar.addfile(folder)
    for name, text in ETC_FILES.items():
        entry = tarfile.TarInfo(name)
        entry.size, entry.mode = len(text), 0o644
        tar.addfile(entry, io.BytesIO(text.encode()))
    for path in files:
        tar.add(path, arcname=path.lstrip("/"), recursive=False)


def _docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    result.stdout = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise ImageBuildError(f"docker {args[0]} failed: {result.stdout.strip()[-2000:]}")
    return result
