"""SageMaker resource names: their formats and lengths, and unique names for each deploy.

The patterns are the API's (contract doc, 8.8). Names that break them are refused before any
call, with the rule spelled out, rather than by a ValidationException halfway through a deploy.
"""

from __future__ import annotations

import re
import secrets
import time

#: kind -> (regex the whole name must match, the rule in words)
PATTERNS: dict[str, tuple[str, str]] = {
    "endpoint": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                 "1-63 letters, digits and hyphens, starting and ending with a letter or digit"),
    "endpoint config": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                        "1-63 letters, digits and hyphens, starting and ending with a letter or digit"),
    "variant": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                "1-63 letters, digits and hyphens, starting and ending with a letter or digit"),
    "training job": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                     "1-63 letters, digits and hyphens (no underscores, dots or colons)"),
    "tuning job": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}",
                   "1-32 letters, digits and hyphens (no underscores, dots or colons)"),
    "transform job": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                      "1-63 letters, digits and hyphens (no underscores, dots or colons)"),
    "processing job": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                       "1-63 letters, digits and hyphens (no underscores, dots or colons)"),
    "model": (r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?",
              "1-63 letters, digits and hyphens, starting and ending with a letter or digit"),
    "model package group": (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                            "1-63 letters, digits and hyphens, starting and ending with a letter or digit"),
    "channel": (r"[A-Za-z0-9\.\-_]+", "1-64 letters, digits, dots, hyphens and underscores"),
    "scaling policy": (r"\S+", "1-256 characters without spaces"),
    "ECR repository": (r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*",
                       "2-256 lowercase letters, digits, and . _ - / between them"),
}
MAX_LENGTH = {"tuning job": 32, "channel": 64, "scaling policy": 256, "ECR repository": 256}
MIN_LENGTH = {"ECR repository": 2}
DEFAULT_MAX = 63


def problem(kind: str, name: str) -> str | None:
    """Why name is not a valid name of this kind, or None when it is."""
    pattern, rule = PATTERNS[kind]
    longest = MAX_LENGTH.get(kind, DEFAULT_MAX)
    shortest = MIN_LENGTH.get(kind, 1)
    if not name:
        return f"the {kind} name is empty ({rule})"
    if len(name) > longest:
        return f"{kind} name {name!r} is {len(name)} characters; the limit is {longest}"
    if len(name) < shortest:
        return f"{kind} name {name!r} is shorter than {shortest} characters"
    if not re.fullmatch(pattern, name):
        return f"{kind} name {name!r} is not valid: {rule}"
    return None


def sanitize(text: str) -> str:
    """A base for generated names: runs of anything else become one hyphen."""
    cleaned = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")
    return cleaned or "byoc"


def timestamp(now: float | None = None) -> str:
    """YYYYmmdd-HHMMSS-mmm: sorts by time, unique per millisecond, valid in every name."""
    now = time.time() if now is None else now
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"


def unique(base: str, *, now: float | None = None, limit: int = DEFAULT_MAX) -> str:
    """base-<timestamp>, with base cut so the whole fits the limit."""
    suffix = "-" + timestamp(now)
    head = sanitize(base)[: limit - len(suffix)].rstrip("-") or "byoc"
    return head + suffix


def unique_short(base: str, *, limit: int, now: float | None = None) -> str:
    """base-<yymmddHHMM>-<4 random hex>, for names too short for unique()'s millisecond stamp
    (a tuning job: 32 characters). The random part keeps two launches in one minute apart,
    where the SDK's minute stamp alone collides."""
    now = time.time() if now is None else now
    suffix = "-" + time.strftime("%y%m%d%H%M", time.gmtime(now)) + "-" + secrets.token_hex(2)
    head = sanitize(base)[: limit - len(suffix)].rstrip("-") or "byoc"
    return head + suffix


def image_repository(uri: str) -> str:
    """'acct.dkr.ecr.r.amazonaws.com/name:tag' -> 'name'."""
    rest = uri.split("/", 1)[1] if "/" in uri else uri
    return re.split(r"[:@]", rest, maxsplit=1)[0]
