"""Fuzzing the whole API (every operation of the OpenAPI schema) against a live gunicorn server.

schemathesis generates valid and invalid requests from the schema; the fuzzer is the workspace's owner (token), and
path parameters are either generated or the ids of real objects (see conftest.py), so requests reach the handlers.
Every response must be below 500, and every error must have the documented shape
``{"error": {"code": str, "message": str, "details": object}}``. Examples are bounded and derandomized: the run is
the same every time and fits the suite. The defects it found are pinned in test_fuzz_regressions.py.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.conftest import FuzzWorld
from tests.gunicorn_server import LiveServer

#: Examples per operation and generation phase (about 80 operations).
MAX_EXAMPLES = 20


def _openapi() -> dict[str, Any]:
    from bdt_project.api import api

    return api.get_openapi_schema()  # the document the server serves at /api/v1/openapi.json


schema = schemathesis.openapi.from_dict(_openapi())
_world: list[FuzzWorld] = []  # the seeded workspace, set by the fixture below before any case is generated


@pytest.fixture(autouse=True)
def _known_values(fuzz_world: FuzzWorld) -> None:
    _world[:] = [fuzz_world]


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half of the cases use real ids (disposable ones for DELETE), the rest what the generator made."""
    if not path_parameters or not _world:
        return st.just(path_parameters)
    world = _world[0]
    deleting = context.operation.method.upper() == "DELETE"
    choices = {}
    for name, generated in path_parameters.items():
        known = (world.disposable.get(name) if deleting else None) or world.known.get(name)
        choices[name] = st.sampled_from(known) if known else st.just(generated)
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(choices))


@schema.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any]) -> bool:
    """Never revoke the fuzzer's own token (everything after would answer 401 and test nothing)."""
    return not (_world and str((path_parameters or {}).get("token_id")) == str(_world[0].token_id))


def error_shape_problem(body: bytes) -> str | None:
    """None when ``body`` is a documented error document, else what is wrong with it."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return f"no 'error' object: {document!r:.200}"
    if not isinstance(error.get("code"), str) or not error["code"]:
        return f"error.code is not a non-empty string: {error!r:.200}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"error.message is not a non-empty string: {error!r:.200}"
    if not isinstance(error.get("details"), dict):
        return f"error.details is not an object: {error!r:.200}"
    return None


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_below_500_with_documented_errors(
    case: Any, fuzz_server: LiveServer, fuzz_world: FuzzWorld
) -> None:
    response = case.call(
        base_url=fuzz_server.base_url,
        headers={"Host": fuzz_world.host, "Authorization": f"Bearer {fuzz_world.token}"},
        timeout=60,
    )
    described = f"{case.method} {case.formatted_path} -> {response.status_code}\n{case.as_curl_command()}"
    assert response.status_code < 500, f"server error: {described}\n{response.text[:500]}"
    if response.status_code >= 400:
        problem = error_shape_problem(response.content)
        assert problem is None, f"undocumented error shape ({problem}): {described}"
