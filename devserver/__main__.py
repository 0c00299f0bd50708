"""``python -m devserver``: serve the API locally, AWS services from moto.

Options: ``--host`` (default 127.0.0.1), ``--port`` (plain HTTP, for curl;
default ``$PORT`` or 3000), ``--https-port`` (default ``$HTTPS_PORT`` or
3443; for 0 of either, a free port is picked and the printed URL tells
which), ``--template`` (default the project's ``template.yaml``),
``--concurrency`` (handler copies per function; a queue's consumer runs its
event's ``MaximumConcurrency`` instead where the template sets one). The first line printed
names both URLs once the server is listening; Ctrl-C (or SIGTERM) stops it
cleanly. Both ports serve the same gateway; HTTPS, which kubectl and the
Kubernetes clients need to send a token, uses a self-signed certificate
(:mod:`devserver.tls`).

What outlives a restart is kept in the state directory, ``.devserver/`` in
the project root or ``DEVSERVER_STATE_DIR`` (:mod:`devserver.state`): the
certificate, the dev tokens, the webhook secret, and a kubeconfig written at
every start for the HTTPS address, with one context per dev token and the
``demo`` token's current (:mod:`devserver.kubeconfig`); the banner prints
its path and ``KUBECONFIG=<path> kubectl get is -n demo``.

Functions with SQS events are fed from their queues in the background, up to
each event's ``MaximumConcurrency`` invocations at once, as deployed
(:mod:`devserver.consumers`), and every function runs with its own settings
and composition root (:mod:`devserver.environment`): the template's
variables, but for the registry address policy, which locally allows
loopback (:data:`LOCAL_DEFAULTS`) unless the caller's environment sets it
(:func:`local_overrides`); the banner prints it. Settings that are not
valid stop the server at start. Schedules do not run by themselves:
``POST /_local/schedule`` runs them now, and ``POST /_local/events``
delivers an EventBridge event to the functions whose rules match it
(:mod:`devserver.triggers`); these routes exist only locally and need no
token.

Every route needs a token, as deployed: a dev token for the ``demo``
namespace is stored (hashed) in the local token secret and printed with an
example ``curl``. ``DEVSERVER_TOKENS`` makes other or more tokens
(``"demo; team-a,team-b; *"``: one per grant, ``*`` for every namespace);
a grant keeps its token across restarts while it stays the same (same
place in the list, same namespaces), and ``=<token>`` after a grant pins
it (``"demo=my-dev-token; team-a"``). ``DEVSERVER_PULL_SECRETS`` names a
JSON file ``{"<namespace>": {<.dockerconfigjson content>}}`` whose pull
secrets are stored at start (:mod:`devserver.seed`). The registry
webhook's shared secret, generated as the template says at the first
start and kept after that (``DEVSERVER_WEBHOOK_SECRET`` pins it), is
printed too, with an example notification. The metrics the functions
emit are shown as one line per invocation (``DEVSERVER_METRICS``:
:mod:`devserver.metrics`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import boto3

from devserver.consumers import QueuePoller
from devserver.environment import (
    SettingsError,
    environment_loader,
    function_settings,
    function_variables,
    shared_variables,
    unseen_variables,
)
from devserver.kubeconfig import context_name, context_namespace, write_kubeconfig
from devserver.metrics import VARIABLE as METRICS_VARIABLE
from devserver.metrics import install as show_metrics
from devserver.moto_support import local_aws
from devserver.resources import CreatedResources, create_resources
from devserver.seed import (
    PULL_SECRETS_VARIABLE,
    TOKENS_VARIABLE,
    DevToken,
    SeedError,
    load_pull_secrets,
    make_tokens,
    parse_grants,
    put_secret,
    seed_pull_secrets,
    seed_tokens,
)
from devserver.server import DevServer, HandlerLoadError, LocalGateway
from devserver.state import STATE_DIR_VARIABLE, StateDir
from devserver.template import LOCAL_REGION, Template, TemplateError, load_template
from devserver.tls import ServerCertificate, certificate_hosts, ensure_certificate
from devserver.triggers import EVENTS_PATH, SCHEDULE_PATH, LocalTriggers
from imagestreams.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMPORTS_PATH = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports"
EXAMPLE_BODY = (
    '{"kind":"ImageStreamImport","apiVersion":"image.openshift.io/v1",'
    '"metadata":{"name":"busybox"},"spec":{"import":false,"images":'
    '[{"from":{"kind":"DockerImage","name":"docker.io/library/busybox:latest"}}]}}'
)

# The route registries send push notifications to, and an example of one.
WEBHOOK_PATH = "/webhooks/distribution"
WEBHOOK_CONTENT_TYPE = "application/vnd.docker.distribution.events.v1+json"
EXAMPLE_NOTIFICATION = (
    '{"events":[{"action":"push","target":{"repository":"myimage","tag":"latest"},'
    '"request":{"host":"127.0.0.1:5000"}}]}'
)
EXAMPLE_EVENT_FILE = "events/ecr-image-push.json"
# Pins the webhook secret (else the one kept from the last start, or a new one).
WEBHOOK_SECRET_VARIABLE = "DEVSERVER_WEBHOOK_SECRET"

# Settings the local server changes from the template's, as one group (see
# local_overrides): it exists for development and must reach registries on
# loopback, but no other address a deployment refuses (169.254.169.254,
# private networks).
LOCAL_DEFAULTS = {
    "ALLOW_PRIVATE_REGISTRIES": "false",
    "ALLOWED_PRIVATE_CIDRS": "127.0.0.0/8,::1/128",
}
# Where pull secrets live when no function of the template says.
DEFAULT_PULL_SECRET_PREFIX = "imagestreams"
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
    parser.add_argument("--https-port", type=int, default=int(os.environ.get("HTTPS_PORT") or 3443))
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


def local_overrides(caller: Mapping[str, str]) -> dict[str, str]:
    """What every function's environment gets over the template's: the caller's settings win.

    If ``caller`` (the environment ``make run`` started in) sets any name of
    :data:`LOCAL_DEFAULTS`, even to an empty value, none of the local defaults
    applies: the names it sets take its values, and the others keep the
    template's. So ``ALLOW_PRIVATE_REGISTRIES=false`` alone is the deployed
    policy (loopback refused too), and ``ALLOW_PRIVATE_REGISTRIES=true``
    allows every private range. Otherwise the local defaults apply.
    """
    chosen = {name: caller[name] for name in LOCAL_DEFAULTS if name in caller}
    return chosen or dict(LOCAL_DEFAULTS)


def _function_settings(
    values: Mapping[str, Mapping[str, str]], overrides: Mapping[str, str]
) -> dict[str, Settings]:
    """Each function's settings, as deployed but for ``overrides`` (:func:`local_overrides`).

    The variables every function sets alike go into the process
    environment, for the libraries that read it themselves (Powertools).
    """
    variables = {function_id: {**own, **overrides} for function_id, own in values.items()}
    os.environ.update(shared_variables(variables))
    for name in sorted(unseen_variables(variables)):
        print(
            f"devserver: {name} differs between functions and is no setting; "
            "libraries read the process environment, where it is not set",
            file=sys.stderr,
            flush=True,
        )
    return function_settings(function_variables(variables, os.environ))


@dataclass(frozen=True)
class LocalSecrets:
    """What :func:`_seed_secrets` stored or found: dev tokens, pull secrets, webhook secret.

    ``webhook`` is the webhook secret's name and value, when the template
    creates it.
    """

    tokens_secret: str
    tokens: list[DevToken]
    pull_secrets: list[str]
    webhook: tuple[str, str] | None = None


def _setting(created: CreatedResources, template: Template, name: str) -> str | None:
    """The first value any function of the template gives the variable ``name``."""
    for spec in template.functions():
        value = created.environment(spec.logical_id).get(name)
        if value:
            return value
    return None


def _seed_secrets(created: CreatedResources, template: Template, state: StateDir) -> LocalSecrets:
    """Store the dev tokens' hashes, the webhook secret and any ``DEVSERVER_PULL_SECRETS`` in moto.

    Tokens and the webhook secret are the pinned ones, else those ``state``
    kept from the last start, else new; ``state`` keeps what is used now.
    """
    prefix = _setting(created, template, "PULL_SECRET_PREFIX") or DEFAULT_PULL_SECRET_PREFIX
    secret = _setting(created, template, "API_TOKENS_SECRET") or f"{prefix}/api-tokens"
    tokens = make_tokens(parse_grants(os.environ.get(TOKENS_VARIABLE)), state.kept_tokens())
    client = boto3.client("secretsmanager", region_name=LOCAL_REGION)
    seed_tokens(client, secret, tokens)
    state.keep_tokens(tokens)
    pull_secrets: list[str] = []
    if path := os.environ.get(PULL_SECRETS_VARIABLE):
        pull_secrets = seed_pull_secrets(client, prefix, load_pull_secrets(path))
    webhook_name = _setting(created, template, "WEBHOOK_SECRET") or f"{prefix}/webhook-secret"
    webhook = None
    if webhook_name in created.names.values():
        value = (
            os.environ.get(WEBHOOK_SECRET_VARIABLE, "").strip()
            or state.kept_webhook_secret()
            or client.get_secret_value(SecretId=webhook_name)["SecretString"]
        )
        put_secret(client, webhook_name, value)
        state.keep_webhook_secret(value)
        webhook = (webhook_name, value)
    return LocalSecrets(secret, tokens, pull_secrets, webhook)


def _example_token(tokens: list[DevToken]) -> tuple[DevToken, str]:
    """The token and namespace the example uses: ``demo`` if a token may use it."""
    for token in tokens:
        if token.allows("demo"):
            return token, "demo"
    return tokens[0], tokens[0].namespaces[0]


@dataclass(frozen=True)
class SecurePort:
    """The HTTPS server, its certificate, and the kubeconfig written for it."""

    server: DevServer
    certificate: ServerCertificate
    kubeconfig: Path


def _https_lines(secure: SecurePort, local: LocalSecrets) -> list[str]:
    """The HTTPS address, the certificate, and the kubeconfig with an example."""
    example, _ = _example_token(local.tokens)
    namespace = context_namespace(example)
    return [
        "",
        f"HTTPS (for kubectl and Kubernetes clients): {secure.server.url}",
        f"  certificate: {secure.certificate.cert_file} (self-signed; kept)",
        f"  kubeconfig: {secure.kubeconfig} (a context per token; current: "
        f"{context_name(example)}, namespace {namespace})",
        f"  KUBECONFIG={secure.kubeconfig} kubectl get is -n {namespace}",
    ]


def _webhook_lines(server: DevServer, template: Template, local: LocalSecrets) -> list[str]:
    """The webhook secret and an example notification, if the template has the route."""
    routes = {route.path for route in template.routes() if route.method in ("POST", "ANY")}
    if local.webhook is None or WEBHOOK_PATH not in routes:
        return []
    name, value = local.webhook
    return [
        "",
        "Registry push notifications (no API token: the shared webhook secret instead;",
        f"kept across restarts, {WEBHOOK_SECRET_VARIABLE} pins it):",
        f"  webhook secret {name}: {value}",
        f"  curl -sS -X POST {server.url}{WEBHOOK_PATH} \\",
        f'    -H "Authorization: Bearer {value}" \\',
        f"    -H 'Content-Type: {WEBHOOK_CONTENT_TYPE}' \\",
        f"    -d '{EXAMPLE_NOTIFICATION}'",
    ]


def _trigger_lines(server: DevServer, triggers: LocalTriggers) -> list[str]:
    """The template's schedules and rules, and how to fire them here."""
    if not triggers.triggers:
        return []
    lines = [
        "",
        "EventBridge, on demand (routes of this local server only, no token needed;",
        "schedules do not run by themselves here):",
    ]
    lines += [f"  {trigger.describe()}" for trigger in triggers.triggers]
    if triggers.schedules:
        lines.append(f"  curl -sS -X POST {server.url}{SCHEDULE_PATH}")
    if triggers.rules:
        lines += [
            f"  curl -sS -X POST {server.url}{EVENTS_PATH} \\",
            f"    -H 'Content-Type: application/json' -d @{EXAMPLE_EVENT_FILE}",
        ]
    return lines


def _banner(
    server: DevServer,
    secure: SecurePort,
    state: StateDir,
    template: Template,
    names: dict[str, str],
    poller: QueuePoller,
    local: LocalSecrets,
    triggers: LocalTriggers,
    address_policy: list[str],
    metrics: str = "summary",
) -> str:
    lines = [
        f"ImageStreamImport API listening on {server.url} and {secure.server.url}",
        f"  template: {template.path}",
        f"  state: {state.root} (certificate, tokens, webhook secret, kubeconfig;"
        f" {STATE_DIR_VARIABLE} moves it)",
    ]
    lines += [f"  {logical_id}: {name} (moto, in memory)" for logical_id, name in names.items()]
    lines += [
        f"  {s.function_id} consumes {s.queue_id} (batches of {s.target.batch_size},"
        f" {s.max_concurrency} at once)"
        for s in poller.subscriptions
    ]
    lines += [
        f"  {spec.function_id} authorizes requests ({name}, answers cached {spec.ttl} s)"
        for name, spec in template.authorizers().items()
    ]
    lines += [f"  pull secret {name} (from {PULL_SECRETS_VARIABLE})" for name in local.pull_secrets]
    lines += address_policy
    lines += [
        "",
        f"Metrics: {metrics} ({METRICS_VARIABLE}=summary prints one line per invocation,"
        " emf the EMF documents as deployed, off nothing)",
    ]
    lines += _https_lines(secure, local)
    lines += [
        "",
        "API tokens (kept while their grants stay the same; "
        f"{TOKENS_VARIABLE}='demo; team-a,team-b; *' makes one per grant, "
        "'*' for every namespace, 'demo=<token>' pins one):",
    ]
    lines += [
        f"  token {token.subject} for {','.join(token.namespaces)}: {token.token}"
        for token in local.tokens
    ]
    example, namespace = _example_token(local.tokens)
    example_path = IMPORTS_PATH.format(namespace=namespace)
    lines += [
        "",
        "Try:",
        f"  curl -sS -X POST {server.url}{example_path} \\",
        f'    -H "Authorization: Bearer {example.token}" \\',
        "    -H 'Content-Type: application/json' \\",
        f"    -d '{EXAMPLE_BODY}'",
        "",
        "or import from a registry on loopback (if the registry addresses above allow it):",
        '  ... "name":"127.0.0.1:5000/myimage:latest" ...',
    ]
    lines += _webhook_lines(server, template, local)
    lines += _trigger_lines(server, triggers)
    lines += [
        "",
        f"Private registries: {PULL_SECRETS_VARIABLE}=pull-secrets.json, a file of",
        '  {"<namespace>": {"auths": {"<registry>": {"auth": "<base64 user:password>"}}}}',
        "",
        "Ctrl-C stops the server.",
    ]
    return "\n".join(lines)


def _address_policy_lines(
    values: Mapping[str, Mapping[str, str]], overrides: Mapping[str, str]
) -> list[str]:
    """The registry address settings the functions run with, and where they come from."""
    settings = []
    for name in LOCAL_DEFAULTS:
        found = {{**variables, **overrides}.get(name) for variables in values.values()}
        shown = " or ".join(sorted(value for value in found if value is not None))
        settings.append(f"{name}={shown or '(unset)'}")
    if overrides == LOCAL_DEFAULTS:
        source = "the local defaults: public and loopback addresses; setting either replaces both"
    else:
        source = "from the environment, over the template's; the local defaults do not apply"
    return ["", "Registry addresses:", f"  {' '.join(settings)}", f"  ({source})"]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a repeated SIGTERM is ignored while cleaning up, and a
    # second Ctrl-C ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise KeyboardInterrupt


@contextmanager
def _serving(server: DevServer) -> Iterator[DevServer]:
    """``server`` answering in a background thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, name="https", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    """Run the local server until interrupted; the process exit code."""
    args = _parse_args(argv)
    overrides = local_overrides(os.environ)
    # Installed explicitly: a process started in the background by a
    # non-interactive shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(FAKE_AWS_ENVIRONMENT)
    aws = local_aws()
    aws.__enter__()
    poller: QueuePoller | None = None
    try:
        try:
            metrics = show_metrics(os.environ, lambda line: print(line, flush=True))
        except ValueError as error:
            raise SettingsError(str(error)) from None
        template = load_template(args.template)
        created = create_resources(template)
        state = StateDir.from_environment(os.environ, PROJECT_ROOT)
        local = _seed_secrets(created, template, state)
        _add_layers_to_path(template)
        values = {
            spec.logical_id: created.environment(spec.logical_id) for spec in template.functions()
        }
        loader = environment_loader(_function_settings(values, overrides))
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
        triggers = LocalTriggers.from_template(
            template, created, concurrency=args.concurrency, loader=loader
        )
        triggers.warm()
        certificate = ensure_certificate(state.tls, certificate_hosts(args.host))
        tls = certificate.server_context()
        with (
            DevServer((args.host, args.port), gateway, triggers) as server,
            DevServer((args.host, args.https_port), gateway, triggers, tls=tls) as https,
            _serving(https),
        ):
            example, _ = _example_token(local.tokens)
            write_kubeconfig(state.kubeconfig, https.url, certificate.pem, local.tokens, example)
            secure = SecurePort(https, certificate, state.kubeconfig)
            poller.start()
            policy = _address_policy_lines(values, overrides)
            banner = _banner(
                server,
                secure,
                state,
                template,
                created.names,
                poller,
                local,
                triggers,
                policy,
                metrics,
            )
            print(banner, flush=True)
            server.serve_forever()
    except (TemplateError, HandlerLoadError, SeedError, SettingsError, OSError) as error:
        print(f"devserver: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("devserver: stopped", flush=True)
    finally:
        if poller is not None:
            poller.stop()
        aws.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
