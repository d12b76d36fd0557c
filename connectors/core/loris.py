"""LORIS connector over its documented REST API: candidates, their visits, and instruments.

Sources: ``candidates`` (one row per candidate, or per candidate and visit in a longitudinal study) and every
instrument of the project (one row per candidate and visit that has it). The candidate id (CandID) becomes the
study's id column and the visit label its session column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectors.core.contract import Connector, FieldSpec, Pulled, PullOptions, Source, SourceColumn
from connectors.core.contract_errors import ConnectorError
from connectors.core.csv_sink import CsvSink
from connectors.core.http_api import base_url_clean, request

CANDIDATES = "candidates"
CANDIDATE_FIELDS = ("PSCID", "Project", "Site", "Sex", "DoB", "EDC")


class LORISConnector(Connector):
    kind = "loris"
    title = "LORIS"
    config_fields = (
        FieldSpec("url", "LORIS address", help="e.g. https://loris.example.org"),
        FieldSpec("project", "Project"),
        FieldSpec("api_version", "API version", required=False, default="v0.0.3"),
    )
    secret_fields = (FieldSpec("username", "User name"), FieldSpec("password", "Password"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token = ""

    def _url(self, *parts: str) -> str:
        base, _, _ = base_url_clean(str(self.config["url"]))
        path = "/".join(quote(part, safe="") for part in parts)
        return f"{base.rstrip('/')}/api/{quote(str(self.config['api_version']), safe='')}/{path}"

    def _login(self) -> str:
        if not self._token:
            response = request(
                self.context.network,
                "POST",
                self._url("login"),
                timeout=self.context.timeout_seconds,
                json={"username": self.secret["username"], "password": self.secret["password"]},
            )
            token = _json(response).get("token") if response.status_code == 200 else None
            if not token:
                raise ConnectorError("connection_failed", "LORIS refused the user name or password.")
            self._token = str(token)
        return self._token

    def _get(self, *parts: str) -> Any:
        response = request(
            self.context.network,
            "GET",
            self._url(*parts),
            timeout=self.context.timeout_seconds,
            headers={"Authorization": f"Bearer {self._login()}"},
        )
        if response.status_code in {401, 403}:
            raise ConnectorError("connection_failed", "LORIS refused access (check the account's permissions).")
        if response.status_code == 404:
            raise ConnectorError("source_not_found", "LORIS has no such project, candidate or instrument.")
        if response.status_code != 200:
            raise ConnectorError("connection_failed", f"LORIS answered {response.status_code}.")
        return _json(response)

    def test(self) -> None:
        self._get("projects", str(self.config["project"]))

    def _instruments(self) -> list[str]:
        listed = self._get("projects", str(self.config["project"]), "instruments").get("Instruments") or {}
        return sorted(listed)

    def sources(self) -> list[Source]:
        return [Source(name=CANDIDATES, kind="candidates")] + [
            Source(name=name, kind="instrument") for name in self._instruments()
        ]

    def columns(self, source: str) -> list[SourceColumn]:
        if source == CANDIDATES:
            return [SourceColumn(name=name, type="text") for name in CANDIDATE_FIELDS]
        self.source_require(source)
        definition = self._get("projects", str(self.config["project"]), "instruments", source)
        return [
            SourceColumn(name=str(element["Name"]), type=str(element.get("Type", "")))
            for element in definition.get("Elements") or []
            if element.get("Name")
        ]

    def _candidates(self) -> list[str]:
        listed = self._get("projects", str(self.config["project"]), "candidates").get("Candidates") or []
        return sorted(str(item.get("CandID") if isinstance(item, dict) else item) for item in listed)

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        columns = self.columns(source)
        names = [column.name for column in columns]
        id_name = options.id_column or "CandID"
        session_name = options.session_column
        header = [id_name, *([session_name] if session_name else []), *names]
        candidates = self._candidates()
        with CsvSink(destination, header, options.max_bytes) as sink:
            for done, candidate in enumerate(candidates, start=1):
                record = self._get("candidates", candidate)
                meta, visits = record.get("Meta") or {}, sorted(record.get("Visits") or [])
                if source == CANDIDATES:
                    values = [meta.get(name, "") for name in names]
                    sink.write(
                        [[candidate, visit, *values] for visit in visits] if session_name else [[candidate, *values]]
                    )
                else:
                    for visit in visits:
                        listed = self._get("candidates", candidate, visit, "instruments").get("Instruments") or []
                        if source not in listed:
                            continue
                        data = self._get("candidates", candidate, visit, "instruments", source)
                        fields: dict[str, Any] = data.get("Data") or data.get(source) or {}
                        row = [candidate, *([visit] if session_name else []), *(fields.get(name, "") for name in names)]
                        sink.write([row])
                self.context.progress(done / max(1, len(candidates)), "pulling")
        return Pulled(path=destination, columns=columns, rows=sink.rows)


def _json(response: Any) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        raise ConnectorError("connection_failed", "LORIS's answer was not JSON.") from None
    return value if isinstance(value, dict) else {}
