"""Refetches a vendored bundle (graph/vendor/<bundle>/) from the npm registry by the versions its
record (graph/vendor/<bundle>.json) names: each package tarball must match both the registry's
dist.integrity and the record's, each file taken from it the record's hash; nothing is written
unless every package passes. Writes the files and LICENSES.txt (each package's license text).
`--check` verifies the files on disk against the record without the network.

    python -m graph.vendor.fetch [--check] [--bundle graphiql]     (`make vendor`)

To move to the versions a new Strawberry's GraphiQL page asks for: put its versions, paths and
integrity attributes in the record and the new tarballs' dist.integrity (the registry's
`https://registry.npmjs.org/<name>/<version>`), then run this."""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
import urllib.parse
import urllib.request

from graph.vendored import LICENSES, Bundle, VendoredPackage, license_heading, sri

REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 60


class IntegrityError(Exception):
    pass


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        body: bytes = response.read()
        return body


def download(package: VendoredPackage) -> bytes:
    """The package's tarball, checked against the registry's dist.integrity and the record's."""
    name = urllib.parse.quote(package.name, safe="@/")
    dist = json.loads(_get(f"{REGISTRY}/{name}/{urllib.parse.quote(package.version)}"))["dist"]
    tarball = _get(dist["tarball"])
    check_tarball(package, dist["integrity"], tarball)
    return tarball


def check_tarball(package: VendoredPackage, registry_integrity: str, tarball: bytes) -> None:
    # Both: a record that no longer matches the registry (a republished version) is news too.
    if registry_integrity != package.tarball_integrity:
        raise IntegrityError(
            f"{package.spec}: the registry's dist.integrity is {registry_integrity}, "
            f"the record says {package.tarball_integrity}"
        )
    if (found := sri(tarball, "sha512")) != package.tarball_integrity:
        raise IntegrityError(
            f"{package.spec}: the tarball hashes to {found}, the record says {package.tarball_integrity}"
        )


def unpack(package: VendoredPackage, tarball: bytes) -> tuple[dict[str, bytes], str]:
    """The package's vendored files (by their names in the bundle) and its license notice, each
    file checked against the record's hash."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        # npm packs everything below one top folder, usually `package/`; paths are read below it.
        members = {m.name.partition("/")[2]: m for m in archive.getmembers() if m.isfile()}

        def read(path: str) -> bytes:
            member = members.get(path)
            extracted = archive.extractfile(member) if member else None
            if extracted is None:
                raise IntegrityError(f"{package.spec}: no file {path} in the tarball")
            return extracted.read()

        files = {}
        for file in package.files:
            data = read(file.path)
            if (found := sri(data)) != file.integrity:
                raise IntegrityError(f"{package.spec} {file.path}: {found}, the record says {file.integrity}")
            files[file.file] = data
        if package.license:
            text = read(package.license).decode()
        else:
            declared = json.loads(read("package.json")).get("license", "unknown")
            text = f"{declared}, as its package.json declares (the package ships no license text)\n"
    return files, license_heading(package) + text.rstrip("\n") + "\n"


def refetch(bundle: Bundle) -> int:
    """Writes the bundle's files; returns the bytes downloaded."""
    files: dict[str, bytes] = {}
    notices = []
    downloaded = 0
    for package in bundle.packages:
        tarball = download(package)
        downloaded += len(tarball)
        package_files, notice = unpack(package, tarball)
        files.update(package_files)
        notices.append(notice)
    files[LICENSES] = "".join(notices).encode()
    bundle.directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (bundle.directory / name).write_bytes(data)
    return downloaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the files on disk; no network")
    parser.add_argument("--bundle", default="graphiql", help="graph/vendor/<bundle>.json (default graphiql)")
    args = parser.parse_args(argv)
    bundle = Bundle.load(args.bundle)
    if not args.check:
        started = time.monotonic()
        try:
            downloaded = refetch(bundle)
        except IntegrityError as error:
            print(f"vendor: {error}; nothing written", file=sys.stderr)
            return 1
        print(f"vendor: {args.bundle}: {downloaded} bytes of tarballs in {time.monotonic() - started:.1f} s")
    problems = bundle.problems()
    for problem in problems:
        print(f"vendor: {args.bundle}: {problem}", file=sys.stderr)
    if not problems:
        print(f"vendor: {args.bundle}: {len(bundle.files())} files match {args.bundle}.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
