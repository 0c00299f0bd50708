"""The Python client's DynamicClient across namespaces, and deleting an ImageStreamTag with it.

What ``kubectl get is -A`` and ``kubectl delete istag`` do, through the
``kubernetes`` package configured by the kubeconfig ``python -m devserver``
wrote: a token granted every namespace lists every namespace's streams, one
granted a namespace is refused at the cluster scope.
"""

from __future__ import annotations

import pytest

from tests.support.devserver import RunningServer, dynamic_client

pytestmark = pytest.mark.slow

DEMO_CONTEXT = "imagestreams-local-dev-1"
ADMIN_CONTEXT = "imagestreams-local-dev-3"


def test_a_token_of_every_namespace_lists_streams_across_namespaces(
    https_devserver: RunningServer, stream: str
) -> None:
    from kubernetes.dynamic.exceptions import ForbiddenError

    admin = dynamic_client(https_devserver, ADMIN_CONTEXT)
    demo = dynamic_client(https_devserver, DEMO_CONTEXT)
    api_version = "image.openshift.io/v1"

    every = admin.resources.get(api_version=api_version, kind="ImageStream").get()

    assert ("demo", stream) in [
        (item.metadata.namespace, item.metadata.name) for item in every.items
    ]
    with pytest.raises(ForbiddenError) as refused:
        demo.resources.get(api_version=api_version, kind="ImageStream").get()
    assert "at the cluster scope" in str(refused.value.body)


def test_the_dynamic_client_deletes_an_istag(https_devserver: RunningServer, stream: str) -> None:
    from kubernetes.dynamic.exceptions import NotFoundError

    client = dynamic_client(https_devserver, DEMO_CONTEXT)
    tags = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag")

    tags.delete(name=f"{stream}:latest", namespace="demo")

    with pytest.raises(NotFoundError):
        tags.get(name=f"{stream}:latest", namespace="demo")
    streams = client.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    assert not streams.get(name=stream, namespace="demo").status.tags
