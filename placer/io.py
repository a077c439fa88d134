"""Files in and out: YAML/JSON documents with line numbers, CSV/Parquet tables, atomic writes,
and turning validation errors into messages that name the file, the field and the line."""

from __future__ import annotations

import difflib
import functools
import gc
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from placer.errors import InputError, Issue, Loc, fail, format_loc

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # bigger fleets belong in CSV or Parquet
MAX_DOCUMENT_NODES = 2_000_000  # bounds YAML alias expansion ("billion laughs")
MAX_ISSUES = 25

Positions = dict[tuple[str | int, ...], int]


# ---------------------------------------------------------------------------
# Documents (YAML / JSON)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (then restored), as a `with` block or a
    decorator. Reading and validating a fleet builds millions of objects, none of them
    garbage, and the collector's passes over them took much of the time: 100,000
    workloads by `load` from YAML (PyYAML's parser) 43.9 -> 25.9 s, JSON 2.8 -> 1.0 s,
    CSV and Parquet 2.3 -> 1.2 s (0.3 s of it the one collection as it resumes)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Loader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans (so NO stays Norway) and dates kept as text."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

# libyaml's parser (PyYAML's CSafeLoader, which its wheels carry) with _Loader's
# resolvers composes 100,000 workloads in 3.8 s where PyYAML's own takes 25 s. It reads
# some texts otherwise: a bare tag (`!`: '' where PyYAML reads null), a second byte-order
# mark or a tab after a scalar (which PyYAML refuses), and it accepts some that PyYAML
# refuses (`>#`, `?` in a flow collection). Texts with any of those characters, or of
# anchors, aliases, directives or the line breaks beyond \n and \r, go to PyYAML's
# parser, as do documents of one value (libyaml gives the empty one of `---` line 2), so
# that a file reads the same with libyaml or without: over about 1.2 million random texts
# (tests/test_io.py's kind) no other difference was found, in data, lines or messages.
LIBYAML_READS_OTHERWISE = re.compile("[\t!%|>?&*\ufeff\x85\u2028\u2029]")
WITH_LIBYAML: bool = getattr(yaml, "__with_libyaml__", False)
if WITH_LIBYAML:
    class _LibyamlLoader(yaml.CSafeLoader):
        """libyaml's parser, _Loader's resolvers."""

    _LibyamlLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


@dataclass
class Document:
    """Parsed file content plus a lazy map from a field path to its line."""

    data: Any
    file: str
    _positions: Positions | None = None
    _position_source: Callable[[], Positions] | None = field(default=None, repr=False)

    @property
    def lines_on_demand(self) -> bool:
        """Whether its lines are yet to be found (a JSON file's: only for a message)."""
        return self._positions is None

    def line(self, loc: Loc) -> int | None:
        """Line of the field at loc, or of its nearest ancestor that has one."""
        if self._positions is None:
            try:
                self._positions = self._position_source() if self._position_source else {}
            except Exception:  # positions are a courtesy; never fail over them
                self._positions = {}
        path = tuple(loc)
        while path:
            if path in self._positions:
                return self._positions[path]
            path = path[:-1]
        return self._positions.get((), None)


def _node_positions(root: yaml.Node, file: str) -> Positions:
    """Walk a composed YAML tree: record lines, reject duplicate keys, bound alias expansion."""
    positions: Positions = {(): root.start_mark.line + 1}
    sizes: dict[int, int] = {}

    def expanded_size(node: yaml.Node) -> int:
        key = id(node)
        if key not in sizes:
            sizes[key] = 1  # guards against recursive aliases
            if isinstance(node, yaml.MappingNode):
                sizes[key] = 1 + sum(expanded_size(k) + expanded_size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                sizes[key] = 1 + sum(expanded_size(v) for v in node.value)
        return sizes[key]

    total = expanded_size(root)
    if total > MAX_DOCUMENT_NODES:
        raise fail(
            f"the document expands to {total:,} values (YAML aliases); the limit is "
            f"{MAX_DOCUMENT_NODES:,}",
            file=file,
        )
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                if key is None or key == "<<":
                    continue
                if key in first_line:
                    raise fail(
                        f"duplicate key '{key}' (first at line {first_line[key]})",
                        file=file, field=format_loc(path) or None, line=line,
                    )
                first_line[key] = line
                positions[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                positions[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    walk(root, ())
    return positions


def _check_size(path: Path) -> None:
    limit = MAX_DOCUMENT_BYTES
    size = path.stat().st_size
    if size > limit:
        raise fail(
            f"file is {_human_size(size)}; documents are limited to {_human_size(limit)} "
            "(put large fleets in a CSV or Parquet workloads table)",
            file=str(path),
        )


def _human_size(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:,.0f} MB"
    if n >= 1e3:
        return f"{n / 1e3:,.1f} kB"
    return f"{n:,} bytes"


def _read_text(path: Path) -> str:
    if not path.exists():
        raise fail("file not found", file=str(path))
    if path.is_dir():
        raise fail("is a directory, not a file", file=str(path))
    _check_size(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}", file=str(path)) from None


def _composed_by_libyaml(text: str) -> tuple[yaml.CSafeLoader, yaml.Node] | None:
    """The document composed by libyaml, and its loader, where PyYAML has libyaml, the
    text has none of LIBYAML_READS_OTHERWISE and the document is a collection (a fleet
    always is); else None, as where libyaml refuses the text (PyYAML's own parser then
    reads it, or says why, as everywhere)."""
    if not WITH_LIBYAML or LIBYAML_READS_OTHERWISE.search(text):
        return None
    loader = _LibyamlLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        root = None
    if not isinstance(root, yaml.MappingNode | yaml.SequenceNode):
        loader.dispose()
        return None
    return loader, root


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document safely, keeping line numbers."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses some characters up front
        raise fail(f"invalid YAML: {exc}".split("\n")[0], file=file) from None
    by_libyaml = _composed_by_libyaml(text)
    composer = loader if by_libyaml is None else by_libyaml[0]
    try:
        root = loader.get_single_node() if by_libyaml is None else by_libyaml[1]
        if root is None:
            return Document(None, file, {})
        positions = _node_positions(root, file)
        data = composer.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected <block end>" in problem or "mapping values are not allowed" in problem:
            problem = f"{problem} (is the indentation consistent with the lines above?)"
        raise fail(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise fail("invalid YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()
        if composer is not loader:
            composer.dispose()
    return Document(data, file, positions)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number placer accepts")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def parse_json(text: str, file: str) -> Document:
    """Parse JSON strictly (no NaN/Infinity, no duplicate keys); lines found only on error."""
    try:
        data = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    except ValueError as exc:
        raise fail(f"invalid JSON: {exc}", file=file) from None
    except RecursionError:
        raise fail("invalid JSON: nested too deeply", file=file) from None

    def positions() -> Positions:
        # JSON is YAML flow syntax: compose it only to learn where fields are.
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            return _node_positions(root, file) if root is not None else {}
        finally:
            loader.dispose()

    return Document(data, file, None, positions)


@collection_paused()
def read_document(path: str | Path) -> Document:
    """Read a YAML or JSON file into plain data with line positions."""
    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        return parse_json(text, str(path))
    return parse_yaml(text, str(path))


# ---------------------------------------------------------------------------
# Tables (CSV / Parquet)


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a CSV (every column as text) or Parquet file."""
    path = Path(path)
    if not path.exists():
        raise fail("file not found", file=str(path))
    if path.is_dir():
        raise fail("is a directory, not a file", file=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        else:
            _check_utf8(path)
            frame = pl.read_csv(path, infer_schema=False)
    except InputError:
        raise
    except pl.exceptions.NoDataError:
        raise fail("empty file: expected a header row", file=str(path)) from None
    except Exception as exc:  # polars and arrow raise many kinds; all mean "bad table"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
        raise fail(f"invalid {kind}: {first}", file=str(path)) from None
    blank = [c for c in frame.columns if not c.strip()]
    if blank:
        raise fail("a column has no name in the header row", file=str(path))
    dupes = sorted({c for c in frame.columns if frame.columns.count(c) > 1})
    if dupes:
        raise fail(f"duplicate columns: {', '.join(dupes)}", file=str(path))
    return frame


def _check_utf8(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte character at the end is fine
            raise fail(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def _cell(value: Any) -> Any:
    """A table cell as plain data: '' and NaN are absent; JSON text becomes lists/dicts."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[0] in "[{":
            try:
                return json.loads(text, parse_constant=_reject_constant)
            except ValueError:
                return text
        return text
    if isinstance(value, pl.Series):
        return value.to_list()
    return value


def table_records(
    frame: pl.DataFrame, list_fields: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows as nested dicts: 'data.region' columns nest, list cells split on ',' or ';'."""
    records: list[dict[str, Any]] = []
    columns = [(c, c.split(".")) for c in frame.columns]
    for row in frame.iter_rows():
        record: dict[str, Any] = {}
        for (column, parts), raw in zip(columns, row, strict=True):
            value = _cell(raw)
            if value is None:
                continue
            if column in list_fields and isinstance(value, str):
                value = [v.strip() for v in re.split(r"[;,]", value) if v.strip()]
            target = record
            for part in parts[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    break
            else:
                target[parts[-1]] = value
        records.append(record)
    return records


@collection_paused()
def table_document(path: str | Path, key: str, list_fields: Sequence[str] = ()) -> Document:
    """A table as a document {key: [rows]}, each row's line being its CSV line (header = 1)."""
    return frame_document(read_table(path), str(path), key, list_fields)


def frame_document(frame: pl.DataFrame, file: str, key: str,
                   list_fields: Sequence[str] = ()) -> Document:
    """A table read from `file` as a document {key: [rows]}, row i on line i + 2."""
    rows = table_records(frame, list_fields)
    positions: Positions = {(key, i): i + 2 for i in range(len(rows))}
    return Document({key: rows}, file, positions)


# The whitespace table_columns strips from text cells. Python's str.strip (table_records)
# also strips other characters, none of them printable ASCII: a cell with any character
# outside printable ASCII at an end goes row by row.
_ASCII_SPACE = " \t\n\r\x0b\x0c"


def table_columns(frame: pl.DataFrame, row_model: type[BaseModel]
                  ) -> dict[str, list[Any]] | None:
    """A table's columns, each validated at once by `row_model`'s type for that field
    (pydantic, the model's config), as table_records and `row_model` would validate each
    row, without a Python loop over the rows: 150,000 candidate rows in 0.14 s, row by
    row 1.5 s. None where a cell might not pass, so that the rows go through
    `row_model` one by one for their messages: a column the model lacks, a required one
    missing or with an empty cell, a column of another type than text or numbers, a
    cell pydantic rejects, or a text cell table_records reads otherwise (JSON, an end
    outside printable ASCII)."""
    fields = row_model.model_fields
    if any(column not in fields for column in frame.columns):
        return None
    columns: dict[str, list[Any]] = {}
    for name, info in fields.items():
        if name not in frame.columns:
            if info.is_required():
                return None
            continue
        cells = _column_cells(frame[name])
        if cells is None or (info.is_required() and cells.null_count() > 0):
            return None
        try:
            columns[name] = _column_adapter(row_model, name).validate_python(cells.to_list())
        except ValidationError:
            return None
    return columns


def _column_cells(column: pl.Series) -> pl.Series | None:
    """A column's cells as table_records reads them ('' and NaN absent, text stripped),
    or None where it might read one otherwise."""
    if column.dtype == pl.Null or column.dtype.is_integer():
        return column
    if column.dtype.is_float():
        return column.fill_nan(None)
    if column.dtype != pl.String:
        return None
    text = column.str.strip_chars(_ASCII_SPACE).replace("", None)
    if text.str.contains(r"^[\[{]|^[^\x21-\x7e]|[^\x21-\x7e]$").any():
        return None
    return text


@functools.cache
def _column_adapter(row_model: type[BaseModel], name: str) -> TypeAdapter[list[Any]]:
    """Validates a list of one field's values as `row_model` validates that field."""
    info = row_model.model_fields[name]
    field_type: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata \
        else info.annotation
    config = {key: value for key, value in row_model.model_config.items() if key != "extra"}
    return TypeAdapter(list[field_type], config=ConfigDict(**config))  # type: ignore[typeddict-item]


# ---------------------------------------------------------------------------
# Validation errors -> issues


_TAGS = {"training", "inference"}


def _clean_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop the union tags pydantic inserts after a list index: workloads.0.training.x."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if part in _TAGS and i > 0 and isinstance(loc[i - 1], int):
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        out.append(part)
    return tuple(out)


def _message(error: Mapping[str, Any], known_fields: frozenset[str]) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        if name in known_fields:  # a real field, in the wrong place
            return (f"unknown field '{name}' here: it belongs elsewhere in this file (see "
                    "`placer schema`)")
        close = difflib.get_close_matches(name, sorted(known_fields), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown field '{name}'{hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "missing_group":
        return "required fields are missing: " + ", ".join(error["names"])
    if kind == "union_tag_not_found":
        return "kind is required: training or inference"
    if kind == "union_tag_invalid":
        return f"kind '{error['input'].get('kind')}' is not one of: training, inference"
    if kind in ("finite_number",):
        return "must be a finite number (not NaN or infinity)"
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    msg = msg.replace("Input should be", "must be").replace("input should be", "must be")
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "bool_parsing"):
        msg += f", got {error.get('input')!r}"
    return msg


def issues_from_validation(
    exc: ValidationError,
    doc: Document,
    prefix: Loc = (),
    known_fields: frozenset[str] = frozenset(),
    label: Callable[[tuple[str | int, ...]], str | None] | None = None,
) -> list[Issue]:
    """One Issue per pydantic error, with the file, a readable field path and the line."""
    issues: list[Issue] = []
    errors = _group_missing(exc.errors(include_url=False))
    for error in errors:
        loc = (*prefix, *_clean_loc(error["loc"]))
        if error["type"] == "union_tag_not_found" or error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
        field_path = format_loc(loc)
        if label is not None:
            field_path = _labelled(loc, label) or field_path
        issues.append(Issue(_message(error, known_fields), doc.file, field_path or None,
                            doc.line(loc)))
    return sorted(issues, key=lambda i: i.line or 0)


def _group_missing(errors: list[Any]) -> list[Any]:
    """Several missing fields of one object become one error listing them all."""
    missing: dict[tuple[Any, ...], list[str]] = {}
    out: list[Any] = []
    for error in errors:
        if error["type"] == "missing" and error["loc"]:
            parent = tuple(error["loc"][:-1])
            if parent not in missing:
                missing[parent] = []
                out.append({"type": "missing_group", "loc": parent, "names": missing[parent],
                            "msg": "", "input": None})
            missing[parent].append(str(error["loc"][-1]))
        else:
            out.append(error)
    return [
        {**e, "type": "missing", "loc": (*e["loc"], e["names"][0])}
        if e["type"] == "missing_group" and len(e["names"]) == 1 else e
        for e in out
    ]


def _labelled(loc: tuple[str | int, ...], label: Callable[[tuple[str | int, ...]], str | None]
              ) -> str:
    """workloads[3] (pretrain-70b).chip_hours: the name helps find the entry."""
    out = ""
    for i, part in enumerate(loc):
        out = out + f"[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else part)
        if isinstance(part, int):
            name = label(loc[: i + 1])
            if name:
                out += f" ({name})"
    return out


def raise_issues(issues: list[Issue]) -> None:
    """Raise InputError with at most MAX_ISSUES issues (and a count of the rest)."""
    if not issues:
        return
    shown = issues[:MAX_ISSUES]
    if len(issues) > MAX_ISSUES:
        shown.append(Issue(f"... and {len(issues) - MAX_ISSUES} more problems", issues[0].file))
    raise InputError(shown)


# ---------------------------------------------------------------------------
# Writing


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside target; on success it replaces target in one step."""
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise fail("the folder to write into does not exist", file=str(target))
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a plain open() would:
        # the replaced file's, else 0666 less the umask.
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | Path, content: str | bytes) -> None:
    """Write text or bytes so that target is either the old file or the whole new one."""
    with atomic_path(target) as tmp:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            tmp.write_bytes(content)
