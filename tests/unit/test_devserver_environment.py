"""The local server's functions: each its own settings, each environment its own container.

Handlers here are small modules written per test; the template's own
functions are checked through the settings the server gives them, and end
to end in ``tests/e2e/test_devserver.py``.
"""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devserver.__main__ import LOCAL_DEFAULTS, _function_settings, local_overrides
from devserver.environment import (
    SettingsError,
    environment_loader,
    function_settings,
    function_variables,
    shared_variables,
    unseen_variables,
)
from devserver.resources import create_resources
from devserver.template import FunctionSpec, load_template
from imagestreams import bootstrap
from imagestreams.config import Settings
from imagestreams.registry.addresses import AddressPolicy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """``os.environ`` as it was before the test, whatever the test (or the server) set."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- Each function's variables -------------------------------------------------------------


SHARED = [
    pytest.param({}, {}, id="no-functions"),
    pytest.param({"Api": {"A": "1", "B": "2"}}, {"A": "1", "B": "2"}, id="one-function-shares-all"),
    pytest.param(
        {
            "Api": {"SHARED": "1", "TABLE": "t", "QUEUE_URL": "q", "LEVEL": "a"},
            "Worker": {"SHARED": "1", "TABLE": "t", "RECEIVES": "3", "LEVEL": "b"},
        },
        {"SHARED": "1", "TABLE": "t"},
        id="same-name-and-value-only",
    ),
    pytest.param({"Api": {"EMPTY": ""}, "Worker": {}}, {}, id="set-empty-is-not-unset"),
]


@pytest.mark.parametrize(("environments", "shared"), SHARED)
def test_shared_variables_are_those_every_function_sets_alike(
    environments: dict[str, dict[str, str]], shared: dict[str, str]
) -> None:
    assert shared_variables(environments) == shared


TEMPLATE_VALUES = {
    "Api": {"TABLE": "t", "QUEUE_URL": "q"},
    "Worker": {"TABLE": "t", "RECEIVES": "3"},
}
# (caller's environment, function, what that function gets)
INHERITED = [
    pytest.param({}, "Worker", {"TABLE": "t", "RECEIVES": "3"}, id="the-templates-only"),
    pytest.param(
        {"BUDGET": "1"},
        "Api",
        {"TABLE": "t", "QUEUE_URL": "q", "BUDGET": "1"},
        id="a-name-no-function-sets-reaches-every-function",
    ),
    pytest.param(
        {"QUEUE_URL": "from-the-shell"},
        "Worker",
        {"TABLE": "t", "RECEIVES": "3"},
        id="a-name-another-function-sets-stays-unset",
    ),
    pytest.param(
        {"QUEUE_URL": "from-the-shell", "TABLE": "x"},
        "Api",
        {"TABLE": "t", "QUEUE_URL": "q"},
        id="the-functions-own-value-wins",
    ),
]


@pytest.mark.parametrize(("caller", "function_id", "expected"), INHERITED)
def test_function_variables_are_the_templates_over_the_callers_unowned_ones(
    caller: dict[str, str], function_id: str, expected: dict[str, str]
) -> None:
    assert function_variables(TEMPLATE_VALUES, caller)[function_id] == expected


def test_unseen_variables_differ_between_functions_and_are_no_setting() -> None:
    environments = {
        "Api": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "IMPORT_QUEUE_URL": "q", "SAME": "1"},
        "Worker": {"POWERTOOLS_LOG_LEVEL": "INFO", "SAME": "1", "ONLY_HERE": "x"},
    }

    assert unseen_variables(environments) == {"POWERTOOLS_LOG_LEVEL", "ONLY_HERE"}


def test_invalid_settings_name_the_function() -> None:
    with pytest.raises(
        SettingsError,
        match=r"^Worker: invalid settings: IMPORT_PARALLELISM: Input should be a valid integer",
    ):
        function_settings({"Api": {}, "Worker": {"IMPORT_PARALLELISM": "many"}})


# --- Execution environments ------------------------------------------------------------------

HANDLER = """
    from concurrent.futures import ThreadPoolExecutor

    from imagestreams import bootstrap

    # What the module sees when it is imported (no handler should look: this test does).
    IMPORTED_WITH = bootstrap.container()
    invocations = 0


    def handler(event, context):
        global invocations
        invocations += 1
        container = bootstrap.container()
        if "together" in event:
            event["together"].wait()
        # A thread of the handler's own builds a part, as the importer's pool uses them.
        with ThreadPoolExecutor(max_workers=1) as pool:
            rules = pool.submit(container.registry_rules).result()
        return {
            "container": container,
            "imported_with": IMPORTED_WITH,
            "rules_from_thread": rules,
            "invocations": invocations,
        }
"""
SETTINGS = {
    "Api": Settings.model_validate({"IMPORT_QUEUE_URL": "q", "ALLOWED_REGISTRIES": "quay.io"}),
    "Worker": Settings.model_validate({"ALLOWED_REGISTRIES": "docker.io"}),
}


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER), encoding="utf-8")
    return tmp_path


def _function(logical_id: str, code: Path) -> FunctionSpec:
    return FunctionSpec(logical_id, code, "app.handler", 3, 128, {})


def test_each_function_runs_with_its_own_container_at_the_same_time(code: Path) -> None:
    # Given an environment of each function, and a thread invoking each at once
    load = environment_loader(SETTINGS)
    environments = {fid: load(_function(fid, code)) for fid in SETTINGS}
    together = threading.Barrier(len(environments))
    answers: dict[str, dict[str, Any]] = {}

    def run(function_id: str) -> None:
        answers[function_id] = environments[function_id]({"together": together}, None)

    threads = [threading.Thread(target=run, args=(fid,)) for fid in environments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each handler's bootstrap.container() was its function's, at import and at the call
    for function_id, answer in answers.items():
        container = answer["container"]
        assert container.settings is SETTINGS[function_id]
        assert answer["imported_with"] is container
    assert answers["Api"]["container"].settings.import_queue_url == "q"
    assert answers["Worker"]["container"].settings.import_queue_url == ""


def test_threads_the_handler_starts_see_its_settings(code: Path) -> None:
    environment = environment_loader(SETTINGS)(_function("Worker", code))

    answer = environment({}, None)

    assert answer["rules_from_thread"].allowed == ("docker.io",)
    assert answer["rules_from_thread"] is answer["container"].registry_rules()


def test_each_environment_has_its_own_module_and_container(code: Path) -> None:
    # Given two environments of one function
    load = environment_loader(SETTINGS)
    first, second = load(_function("Api", code)), load(_function("Api", code))

    # When the first is invoked twice and the second once
    first({}, None)
    again, other = first({}, None), second({}, None)

    # Then they share settings but neither module state nor what their containers built
    assert (again["invocations"], other["invocations"]) == (2, 1)
    assert again["container"] is not other["container"]
    assert again["container"].settings is other["container"].settings
    assert again["container"].built() == frozenset({"registry_rules"})


def test_the_container_is_active_only_for_the_invocation(code: Path) -> None:
    outer = bootstrap.Container(Settings())
    environment = environment_loader(SETTINGS)(_function("Api", code))

    with bootstrap.activated(outer):
        answer = environment({}, None)
        after = bootstrap.container()

    assert answer["container"] is not outer
    assert after is outer


# --- The template's functions ------------------------------------------------------------------


def _template_values(aws: boto3.Session) -> tuple[dict[str, dict[str, str]], Any]:
    template = load_template(ROOT / "template.yaml")
    created = create_resources(template, session=aws)
    values = {
        spec.logical_id: created.environment(spec.logical_id) for spec in template.functions()
    }
    return values, created


@pytest.mark.usefixtures("restored_environ")
def test_devserver_settings_are_per_function(aws: boto3.Session) -> None:
    # Given the template's functions and the variables they share
    values, created = _template_values(aws)

    # When the server composes each function's settings
    settings = _function_settings(values, LOCAL_DEFAULTS)

    # Then the api queues what the worker imports, and each has its own budget
    api, worker = settings["ApiFunction"], settings["WorkerFunction"]
    assert api.import_queue_url == created.refs["ImportQueue"]
    assert worker.import_queue_url == ""
    assert worker.worker_time_budget == 90
    assert api.worker_time_budget == Settings().worker_time_budget
    assert api.streams_table == worker.streams_table == created.name("StreamsTable")
    assert settings["AuthorizerFunction"].streams_table == ""
    # and what every function shares is in the process environment, for Powertools
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "imagestreams"
    assert "IMPORT_QUEUE_URL" not in os.environ


# Addresses and whether the functions may reach them, for each environment
# `make run` may be started in. The template refuses every non-public one.
LOOPBACK, PRIVATE, METADATA, PUBLIC = "127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8"
ADDRESS_POLICIES = [
    pytest.param(
        {},
        {LOOPBACK: True, "::1": True, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="default-allows-loopback-only",
    ),
    pytest.param(
        {"ALLOW_PRIVATE_REGISTRIES": "false"},
        {LOOPBACK: False, "::1": False, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="caller-false-is-the-deployed-policy",
    ),
    pytest.param(
        {"ALLOW_PRIVATE_REGISTRIES": "true"},
        {LOOPBACK: True, "::1": True, PRIVATE: True, METADATA: True, PUBLIC: True},
        id="caller-true-allows-private-ranges",
    ),
    pytest.param(
        {"ALLOWED_PRIVATE_CIDRS": "10.0.0.0/8"},
        {LOOPBACK: False, "::1": False, PRIVATE: True, METADATA: False, PUBLIC: True},
        id="caller-cidrs-replace-the-local-ones",
    ),
    pytest.param(
        {"ALLOWED_PRIVATE_CIDRS": ""},
        {LOOPBACK: False, "::1": False, PRIVATE: False, METADATA: False, PUBLIC: True},
        id="caller-empty-cidrs-count-as-set",
    ),
]


@pytest.mark.usefixtures("restored_environ")
@pytest.mark.parametrize(("caller", "permitted"), ADDRESS_POLICIES)
def test_devserver_address_policy_is_the_callers_or_loopback_only(
    aws: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    caller: dict[str, str],
    permitted: dict[str, bool],
) -> None:
    # Given the template's environments, and `make run` started with `caller` set
    values, _ = _template_values(aws)
    for name in LOCAL_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for name, value in caller.items():
        monkeypatch.setenv(name, value)

    # When the local server composes each function's settings from them
    settings = _function_settings(values, local_overrides(os.environ))

    # Then every function's address policy permits exactly what is expected
    for function_id, setting in settings.items():
        policy = AddressPolicy.from_settings(
            setting.allow_private_registries, setting.private_cidrs()
        )
        answers = {address: policy.permits(address) for address in permitted}
        assert answers == permitted, function_id
