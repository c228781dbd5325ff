"""The names a repository gives its objects, checked before they become file names, branch
names or text in a PR.

Why: a name is repository content. `web](https://evil)` or `@acme/everyone` would be a link
or a mention in a PR body, `../x` a path; Kubernetes accepts none of them, so a workload
named so is left out with a problem, never sized.
"""

from __future__ import annotations

import re

from bot.manifests.model import Workload

KUBERNETES_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
"""An object name (RFC 1123 subdomain): Deployments, StatefulSets, HPAs..."""
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A namespace or container name (RFC 1123 label)."""
ENVIRONMENT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
"""An environment: an Argo CD Application's name or an overlay directory's."""
KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")


def name_problem(workload: Workload) -> str | None:
    """Why the workload's names cannot be used, or None."""
    checks = [
        ("kind", workload.kind, KIND),
        ("name", workload.name, KUBERNETES_NAME),
        ("namespace", workload.namespace, LABEL),
        ("environment", workload.environment, ENVIRONMENT),
        *(("container", c.name, LABEL) for c in workload.containers),
    ]
    for what, value, pattern in checks:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"{what} {shown(value)} is not a name Kubernetes accepts"
    return None


def shown(value: object) -> str:
    """A rejected name as an error may show it: characters that mean something in Markdown
    or a path replaced with `?`, at most 64 of them, quoted."""
    text = re.sub(r"[^A-Za-z0-9._-]", "?", str(value))
    return repr(text[:64] + ("…" if len(text) > 64 else ""))
