"""REDCap connector over its documented API: instruments are sources, events become sessions.

Records are exported per instrument in batches of record ids (``records[]``), so large projects are pulled in
pieces; 429 answers are waited out (``Retry-After``). The record id field becomes the study's id column and
``redcap_event_name`` its session column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.core.contract import Connector, FieldSpec, Pulled, PullOptions, Source, SourceColumn
from connectors.core.contract_errors import ConnectorError
from connectors.core.csv_sink import CsvSink
from connectors.core.http_api import base_url_clean, request

BATCH_RECORDS = 100
EVENT = "redcap_event_name"
SKIPPED_FIELD_TYPES = {"descriptive"}


class REDCapConnector(Connector):
    kind = "redcap"
    title = "REDCap"
    config_fields = (
        FieldSpec("url", "API URL", help="The project's API address, e.g. https://redcap.example.org/api/"),
        FieldSpec("batch_records", "Records per request", kind="integer", required=False, default=BATCH_RECORDS),
    )
    secret_fields = (FieldSpec("token", "API token"),)

    def _call(self, content: str, **fields: Any) -> Any:
        url, _, _ = base_url_clean(str(self.config["url"]))
        data: dict[str, Any] = {"token": self.secret["token"], "content": content, "format": "json"}
        data["returnFormat"] = "json"
        data.update(fields)
        response = request(self.context.network, "POST", url, timeout=self.context.timeout_seconds, data=data)
        if response.status_code in {401, 403}:
            raise ConnectorError("connection_failed", "REDCap refused the API token.")
        if response.status_code != 200:
            raise ConnectorError("connection_failed", f"REDCap answered {response.status_code} to a {content} request.")
        try:
            return response.json()
        except ValueError:
            raise ConnectorError("connection_failed", "REDCap's answer was not JSON.") from None

    def test(self) -> None:
        project = self._call("project")
        if not isinstance(project, dict) or "project_id" not in project:
            raise ConnectorError("connection_failed", "The URL does not answer like a REDCap API.")

    def sources(self) -> list[Source]:
        return [Source(name=str(item["instrument_name"]), kind="instrument") for item in self._call("instrument")]

    def _metadata(self) -> list[dict[str, Any]]:
        metadata = self._call("metadata")
        if not metadata:
            raise ConnectorError("connection_failed", "The REDCap project has no data dictionary.")
        return list(metadata)

    def columns(self, source: str) -> list[SourceColumn]:
        self.source_require(source)
        metadata = self._metadata()
        fields = [
            SourceColumn(name=str(field["field_name"]), type=_field_type(field))
            for field in metadata
            if field.get("form_name") == source and field.get("field_type") not in SKIPPED_FIELD_TYPES
        ]
        record_id = str(metadata[0]["field_name"])
        return [column for column in fields if column.name != record_id]

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        columns = self.columns(source)
        record_id = str(self._metadata()[0]["field_name"])
        ids = list(dict.fromkeys(str(row[record_id]) for row in self._call("record", **{"fields[0]": record_id})))
        batch = int(self.config.get("batch_records") or BATCH_RECORDS)
        id_name = options.id_column or record_id
        session_name = options.session_column or EVENT
        data_names = [column.name for column in columns]
        header: list[str] | None = None
        sink: CsvSink | None = None
        try:
            for start in range(0, len(ids), max(1, batch)):
                chunk = ids[start : start + batch]
                params = {f"records[{i}]": record for i, record in enumerate(chunk)}
                params.update({"fields[0]": record_id, "forms[0]": source, "type": "flat"})
                rows = self._call("record", **params)
                for row in rows:
                    if row.get("redcap_repeat_instrument") not in (None, "", source):
                        continue
                    values = _expanded(row, data_names)
                    if not any(value not in ("", None) for value in values.values()):
                        continue  # the instrument was not filled at this event
                    if header is None:
                        longitudinal = EVENT in row
                        header = [id_name, *([session_name] if longitudinal else []), *values]
                        sink = CsvSink(destination, header, options.max_bytes)
                    line = [row.get(record_id, ""), *([row.get(EVENT, "")] if EVENT in row else []), *values.values()]
                    sink.write([line])  # type: ignore[union-attr]
                self.context.progress(min(1.0, (start + len(chunk)) / max(1, len(ids))), "pulling")
        finally:
            if sink is not None:
                sink.close()
        if sink is None:
            raise ConnectorError("source_empty", f"The instrument {source!r} has no data yet.")
        return Pulled(path=destination, columns=columns, rows=sink.rows)


def _field_type(field: dict[str, Any]) -> str:
    validation = str(field.get("text_validation_type_or_show_slider_number") or "")
    return f"{field.get('field_type', '')}:{validation}" if validation else str(field.get("field_type", ""))


def _expanded(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The row's values of the instrument's fields, checkbox fields as their ``field___code`` columns."""
    values: dict[str, Any] = {}
    for name in names:
        if name in row:
            values[name] = row[name]
            continue
        for key in row:
            if key.startswith(f"{name}___"):
                values[key] = row[key]
    return values
