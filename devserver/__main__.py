"""``python -m devserver``: serve the API locally, AWS services from moto.

Options: ``--host`` (default 127.0.0.1), ``--port`` (default ``$PORT`` or
3000; 0 picks a free port, and the printed URL tells which), ``--template``
(default the project's ``template.yaml``), ``--concurrency`` (handler copies
per function). The first line printed names the URL once the server is
listening; Ctrl-C (or SIGTERM) stops it cleanly.

Functions with SQS events are fed from their queues in the background
(:mod:`devserver.queues`), and every function sees its own environment
(:mod:`devserver.environment`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from devserver.environment import FunctionEnvironments, isolated_loader, split_environments
from devserver.moto_support import local_aws
from devserver.queues import QueuePoller
from devserver.resources import create_resources
from devserver.server import DevServer, HandlerLoadError, LocalGateway
from devserver.template import LOCAL_REGION, Template, TemplateError, load_template

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMPORTS_PATH = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports"
EXAMPLE_BODY = (
    '{"kind":"ImageStreamImport","apiVersion":"image.openshift.io/v1",'
    '"metadata":{"name":"busybox"},"spec":{"import":false,"images":'
    '[{"from":{"kind":"DockerImage","name":"docker.io/library/busybox:latest"}}]}}'
)

# Settings the local server changes from the template's: it exists for
# development, and must reach registries on loopback.
LOCAL_OVERRIDES = {"ALLOW_PRIVATE_REGISTRIES": "true"}
# Modules each loaded handler gets a copy of, as each Lambda execution
# environment has: the composition root caches settings and clients.
PER_ENVIRONMENT_MODULES = ("imagestreams.bootstrap",)
# Seconds before a record a function failed is delivered again (the deployed
# queue waits out its visibility timeout).
LOCAL_RETRY_AFTER = 2

# Credentials that only moto accepts, so nothing here can reach a real account.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument("--template", type=Path, default=PROJECT_ROOT / "template.yaml")
    parser.add_argument("--concurrency", type=int, default=4)
    return parser.parse_args(argv)


def _add_layers_to_path(template: Template) -> None:
    """Put Python layers' directories on ``sys.path``, as /opt/python is in Lambda."""
    for logical_id in template.resources_of_type("AWS::Serverless::LayerVersion"):
        content = template.properties(logical_id).get("ContentUri")
        build = str((template.resources[logical_id].get("Metadata") or {}).get("BuildMethod", ""))
        if isinstance(content, str) and build.startswith("python"):
            directory = str((template.base_dir / content).resolve())
            if directory not in sys.path:
                sys.path.append(directory)


def _function_environments(values: dict[str, dict[str, str]]) -> FunctionEnvironments:
    """Each function's variables, as deployed but for :data:`LOCAL_OVERRIDES`.

    Variables every function sets alike go into the process environment;
    the others are seen only by their function's threads.
    """
    shared, own = split_environments(
        {function_id: {**variables, **LOCAL_OVERRIDES} for function_id, variables in values.items()}
    )
    os.environ.update(shared)
    return FunctionEnvironments(os.environ, own)


def _banner(
    server: DevServer, template: Template, names: dict[str, str], poller: QueuePoller
) -> str:
    example_path = IMPORTS_PATH.format(namespace="demo")
    lines = [
        f"ImageStreamImport API listening on {server.url}",
        f"  template: {template.path}",
    ]
    lines += [f"  {logical_id}: {name} (moto, in memory)" for logical_id, name in names.items()]
    lines += [
        f"  {s.function_id} consumes {s.queue_id} (batches of {s.target.batch_size})"
        for s in poller.subscriptions
    ]
    lines += [
        "",
        "Try:",
        f"  curl -sS -X POST {server.url}{example_path} \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -d '{EXAMPLE_BODY}'",
        "",
        "or import from a registry on loopback (allowed here, not when deployed):",
        '  ... "name":"127.0.0.1:5000/myimage:latest" ...',
        "",
        "Ctrl-C stops the server.",
    ]
    return "\n".join(lines)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a repeated SIGTERM is ignored while cleaning up, and a
    # second Ctrl-C ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the local server until interrupted; the process exit code."""
    args = _parse_args(argv)
    # Installed explicitly: a process started in the background by a
    # non-interactive shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(FAKE_AWS_ENVIRONMENT)
    aws = local_aws()
    aws.__enter__()
    environments: FunctionEnvironments | None = None
    poller: QueuePoller | None = None
    try:
        template = load_template(args.template)
        created = create_resources(template)
        _add_layers_to_path(template)
        environments = _function_environments(
            {spec.logical_id: created.environment(spec.logical_id) for spec in template.functions()}
        )
        environments.install()
        loader = isolated_loader(environments, PER_ENVIRONMENT_MODULES)
        gateway = LocalGateway.from_template(template, concurrency=args.concurrency, loader=loader)
        gateway.warm()
        poller = QueuePoller.from_template(
            template,
            created,
            concurrency=args.concurrency,
            loader=loader,
            retry_after=LOCAL_RETRY_AFTER,
        )
        poller.warm()
        with DevServer((args.host, args.port), gateway) as server:
            poller.start()
            print(_banner(server, template, created.names, poller), flush=True)
            server.serve_forever()
    except (TemplateError, HandlerLoadError, OSError) as error:
        print(f"devserver: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("devserver: stopped", flush=True)
    finally:
        if poller is not None:
            poller.stop()
        if environments is not None:
            environments.uninstall()
        aws.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
