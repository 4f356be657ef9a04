"""Form bodies read so that every file part keeps its raw bytes.

Starlette's `request.form()` turns a part without a filename into a decoded
text field, which loses the image that Stability's own Go and TypeScript v1
examples send that way (Go's `CreateFormField("init_image")`, Node's
`form-data` with a Buffer). Here a part is a file when the route declares its
name as a file field or when it carries a filename; every other part is a
UTF-8 text field. The body size limit is the middleware's job; this module
bounds the number of parts and the size of each text part.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from easel.errors import InvalidRequest

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
# Text parts carry prompts and numbers; 1 MiB is Starlette's limit too.
MAX_FIELD_BYTES = 1024 * 1024


@dataclass
class ParsedForm:
    """Text fields in the order sent (later duplicates matter), files by name (last wins)."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


async def read_form(
    request: Request,
    *,
    file_fields: Collection[str],
    max_files: int,
    max_fields: int,
    max_field_bytes: int = MAX_FIELD_BYTES,
) -> ParsedForm:
    """Read a multipart or urlencoded body; any malformed body is a 400."""
    header = request.headers.get("content-type", "")
    media_type, options = parse_options_header(header)
    if media_type == URLENCODED.encode():
        return _urlencoded(await request.body(), max_fields)
    if media_type != MULTIPART.encode():
        raise InvalidRequest(f"content-type: must be {MULTIPART}, got {header or 'nothing'}")
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest(f"content-type: {MULTIPART} needs a boundary parameter")
    reader = _MultipartReader(file_fields, max_files, max_fields, max_field_bytes)
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidRequest(f"body: malformed {MULTIPART} ({exc})") from exc
    if parser.state != MultipartState.END:
        raise InvalidRequest(f"body: {MULTIPART} ended before its closing boundary")
    return reader.form


def _urlencoded(body: bytes, max_fields: int) -> ParsedForm:
    # urlencoded bodies can carry every field but the files, which then count as missing
    try:
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=max_fields,
        )
    except UnicodeDecodeError as exc:
        raise InvalidRequest("body: form fields must be UTF-8") from exc
    except ValueError as exc:
        raise InvalidRequest(f"body: too many form fields (at most {max_fields})") from exc
    return ParsedForm(fields=pairs)


class _MultipartReader:
    """Callbacks for python-multipart's streaming parser, collecting one part at a time."""

    def __init__(
        self, file_fields: Collection[str], max_files: int, max_fields: int, max_field_bytes: int
    ) -> None:
        self.form = ParsedForm()
        self._file_fields = file_fields
        self._max_files = max_files
        self._max_fields = max_fields
        self._max_field_bytes = max_field_bytes
        self._files_seen = 0
        self._fields_seen = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._data = bytearray()

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if disposition != b"form-data" or raw_name is None:
            raise InvalidRequest(
                'body: every multipart part needs "Content-Disposition: form-data; name=..."'
            )
        self._name = _text(raw_name, "a part name")
        self._is_file = self._name in self._file_fields or b"filename" in options
        if self._is_file:
            self._files_seen += 1
            if self._files_seen > self._max_files:
                raise InvalidRequest(f"body: too many files (at most {self._max_files})")
        else:
            self._fields_seen += 1
            if self._fields_seen > self._max_fields:
                raise InvalidRequest(f"body: too many form fields (at most {self._max_fields})")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.extend(data[start:end])
        if not self._is_file and len(self._data) > self._max_field_bytes:
            raise InvalidRequest(
                f"{self._name}: a text field may hold at most {self._max_field_bytes} bytes"
            )

    def _part_end(self) -> None:
        if self._is_file:
            self.form.files[self._name] = bytes(self._data)
        else:
            self.form.fields.append((self._name, _text(bytes(self._data), self._name)))


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{what}: must be UTF-8 text") from exc
