"""The third-party files this package ships instead of fetching them at run time (GraphiQL's page
and its scripts): graph/vendor/<bundle>.json records, for each file in graph/vendor/<bundle>/, the
npm package, version and path inside its tarball it comes from and the hash it must have.
graph/vendor/fetch.py refetches a bundle from the npm registry by that record; this module is the
offline half, which the server and the tests use too: reading the record and checking files on
disk against it. They live under a folder named vendor so that tools reading our own code
(`duplicates`, GitHub's linguist) pass them over."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "vendor"
LICENSES = "LICENSES.txt"


def sri(data: bytes, algorithm: str = "sha384") -> str:
    """The Subresource Integrity form of a hash (`sha384-<base64>`), as npm's dist.integrity
    (sha512) and the integrity attributes of <script> tags (sha384) write it."""
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


@dataclass(frozen=True)
class VendoredFile:
    path: str  # inside the package tarball, below its top folder (`package/`)
    file: str  # its name in the bundle's folder
    integrity: str


@dataclass(frozen=True)
class VendoredPackage:
    name: str
    version: str
    tarball_integrity: str
    license: str | None  # the license text's path inside the tarball; None where it ships none
    files: tuple[VendoredFile, ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Bundle:
    directory: Path
    packages: tuple[VendoredPackage, ...]

    @classmethod
    def load(cls, name: str, vendor_dir: Path = VENDOR_DIR) -> Bundle:
        record = json.loads((vendor_dir / f"{name}.json").read_text())
        packages = tuple(
            VendoredPackage(
                name=package["name"],
                version=package["version"],
                tarball_integrity=package["tarball_integrity"],
                license=package["license"],
                files=tuple(VendoredFile(**file) for file in package["files"]),
            )
            for package in record["packages"]
        )
        return cls(vendor_dir / name, packages)

    def files(self) -> list[tuple[VendoredPackage, VendoredFile]]:
        return [(package, file) for package in self.packages for file in package.files]

    def problems(self, directory: Path | None = None) -> list[str]:
        """What on disk differs from the record (empty when every file is there with its hash and
        the license notice names every package); `directory` stands in for the bundle's own."""
        directory = directory or self.directory
        problems = []
        for package, file in self.files():
            target = directory / file.file
            if not target.is_file():
                problems.append(f"{file.file}: missing ({package.spec} {file.path})")
            elif (found := sri(target.read_bytes())) != file.integrity:
                problems.append(f"{file.file}: {found}, the record says {file.integrity}")
        notice = directory / LICENSES
        text = notice.read_text() if notice.is_file() else ""
        unnamed = [package.spec for package in self.packages if license_heading(package) not in text]
        problems += [f"{LICENSES}: no section for {spec}" for spec in unnamed]
        return problems


def license_heading(package: VendoredPackage) -> str:
    return f"== {package.spec}\n"
