"""`rightsizer-helm`: the `helm` command kustomize runs for a kustomization's `helmCharts:`.

Kustomize inflates charts by running a `helm` binary (`version`, `pull`, `template`); no
Go toolchain or Helm binary is installed here, and the bot renders charts with Helm's own
engine from the `helm-python-sdk` wheel already. Answering kustomize's two read-only
commands with that engine lets the real kustomize build such an environment end to end
(its transformers and patches over the chart's objects), so renders and proofs check what
the cluster would get. Rendering happens in the same limited child process as every other
chart render. `pull` is refused: a chart must be vendored, and kustomize would untar a
download into the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.manifests.helm.renderer import HelmRenderer, RenderError
from bot.manifests.releases import merged
from bot.manifests.render import manifest_text
from bot.manifests.yamlio import parse_positioned, read_text
from recommenders.errors import InputError


def _template_arguments() -> argparse.ArgumentParser:
    """The flags kustomize passes to `helm template`; the ones Helm's engine has no say in
    here (CRDs, hooks, tests, schema, capabilities) are accepted and change nothing the bot
    sizes."""
    parser = argparse.ArgumentParser(prog="rightsizer-helm template", exit_on_error=False)
    parser.add_argument("names", nargs="+", help="[RELEASE] CHART")
    parser.add_argument("--namespace", "-n", default="default")
    parser.add_argument("--values", "-f", action="append", default=[])
    parser.add_argument("--generate-name", action="store_true")
    parser.add_argument("--kube-version")
    parser.add_argument("--api-versions", action="append", default=[])
    parser.add_argument("--version")
    for flag in ("--include-crds", "--skip-tests", "--no-hooks", "--skip-schema-validation"):
        parser.add_argument(flag, action="store_true")
    return parser


def template(arguments: list[str]) -> str:
    options = _template_arguments().parse_args(arguments)
    *release, chart = options.names
    if len(release) > 1:
        raise InputError("helm template", f"unexpected arguments {' '.join(release[1:])}")
    layers: list[Any] = []
    for file in options.values:
        path = Path(file)
        documents = parse_positioned(read_text(path.parent, path.name), file)
        layers.append(documents[0] if documents and isinstance(documents[0], dict) else {})
    name = release[0] if release else "release-name"
    with HelmRenderer() as renderer:
        [result] = renderer.render_many(Path(chart), [merged(layers)], name, options.namespace)
    if isinstance(result, str):
        raise InputError(chart, f"Helm cannot render the chart: {result}")
    return manifest_text(result)


def main(argv: list[str] | None = None) -> int:
    from helm_python import EXPECTED_HELM_SDK_VERSION

    command, *arguments = argv if argv is not None else sys.argv[1:] or ["help"]
    try:
        if command == "version":
            print(EXPECTED_HELM_SDK_VERSION)
        elif command == "template":
            sys.stdout.write(template(arguments))
        elif command == "pull":
            print(
                f"rightsizer-helm: chart not available locally: {' '.join(arguments)}; "
                "vendor it in the repository (kustomize's chartHome)",
                file=sys.stderr,
            )
            return 1
        else:
            print(f"rightsizer-helm: {command!r} is not a command kustomize runs", file=sys.stderr)
            return 2
    except (InputError, RenderError, argparse.ArgumentError) as exc:
        print(f"rightsizer-helm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
