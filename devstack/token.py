"""`make token USER=alice PLAN=Pro`: a development token signed with the configured JWT_SECRET
(or, under `make run` without one, the secret it keeps in DATA_DIR)."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from pydantic import SecretStr

from graph.edges.auth import mint
from jobs.core.quotas import Plan
from settings import Settings, get_settings


def dev_secret(data_dir: str) -> str:
    """The development secret of this checkout: made once, kept (mode 600) in DATA_DIR."""
    path = Path(data_dir) / "dev-jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def signing_settings(settings: Settings) -> Settings:
    if settings.jwt_secret is not None:
        return settings
    return settings.model_copy(update={"jwt_secret": SecretStr(dev_secret(settings.data_dir))})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--plan", default="Free", help="Free, Basic, Pro or Premium")
    parser.add_argument("--ttl", type=int, default=7 * 24 * 3600, help="seconds until it expires")
    args = parser.parse_args()
    plans = {p.value.lower(): p for p in Plan}
    if args.plan.lower() not in plans:
        parser.error(f"--plan must be one of {', '.join(p.value for p in Plan)}")
    settings = get_settings()
    if settings.jwt_public_key:
        parser.error("JWT_PUBLIC_KEY is set: tokens come from your identity provider, not from here")
    print(mint(signing_settings(settings), args.user, plans[args.plan.lower()], args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
