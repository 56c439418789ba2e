"""Loads docs/openapi.yaml and validates JSON values against its schemas.

A minimal JSON-schema validator for the subset the spec uses: type, nullable, enum, required,
properties, additionalProperties, items, pattern, minLength/maxLength, minimum/maximum,
multipleOf, $ref (to #/components/...), allOf and oneOf. Annotation keywords (description,
default, example, format, ...) are ignored; any other keyword is reported by
unsupported_keywords() so the spec cannot silently rely on a check this module does not make.

Needs PyYAML (Debian package python3-yaml); otherwise standard library only.
"""

import os
import re

import yaml

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

_CHECKED = {"type", "nullable", "enum", "required", "properties", "additionalProperties", "items", "pattern",
            "minLength", "maxLength", "minimum", "maximum", "multipleOf", "$ref", "allOf", "oneOf",
            "maxProperties"}
_ANNOTATIONS = {"description", "default", "example", "format", "title", "readOnly", "writeOnly", "deprecated"}


class ValidationError(AssertionError):
    """An instance does not match a schema; `errors` lists 'path: problem' strings."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


_spec_cache = {}


def load_spec(path=SPEC_PATH):
    """The parsed spec (cached per path)."""
    path = os.path.abspath(path)
    if path not in _spec_cache:
        with open(path) as f:
            _spec_cache[path] = yaml.safe_load(f)
    return _spec_cache[path]


def resolve(ref, spec=None):
    """The object a local reference like '#/components/schemas/Volume' points to."""
    spec = spec or load_spec()
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported: {ref}")
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"dangling reference {ref}")
        node = node[part]
    return node


def _deref(obj, spec):
    while isinstance(obj, dict) and "$ref" in obj:
        obj = resolve(obj["$ref"], spec)
    return obj


def _type_ok(kind, value):
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown schema type {kind!r}")


def _check(schema, value, path, spec, out):
    if "$ref" in schema:
        _check(resolve(schema["$ref"], spec), value, path, spec, out)
        return
    if value is None:
        constrained = any(k in schema for k in ("type", "allOf", "oneOf", "enum"))
        if constrained and not schema.get("nullable", False):
            out.append(f"{path}: null is not allowed")
        return
    kind = schema.get("type")
    if kind is not None and not _type_ok(kind, value):
        out.append(f"{path}: expected {kind}, got {type(value).__name__} {value!r:.60}")
        return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r:.60} is not one of {schema['enum']}")
    for sub in schema.get("allOf", []):
        _check(sub, value, path, spec, out)
    if "oneOf" in schema:
        matches = sum(1 for sub in schema["oneOf"] if not _errors(sub, value, path, spec))
        if matches != 1:
            out.append(f"{path}: matches {matches} of the oneOf alternatives (must match exactly one)")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r:.60} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} is less than {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} is greater than {schema['maximum']}")
        if "multipleOf" in schema and value % schema["multipleOf"] != 0:
            out.append(f"{path}: {value} is not a multiple of {schema['multipleOf']}")
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            out.append(f"{path}: more than {schema['maxProperties']} properties")
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{path}: missing required property '{name}'")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                _check(props[name], item, f"{path}.{name}", spec, out)
            elif extra is False:
                out.append(f"{path}: unexpected property '{name}'")
            elif isinstance(extra, dict):
                _check(extra, item, f"{path}.{name}", spec, out)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(schema["items"], item, f"{path}[{i}]", spec, out)


def _errors(schema, value, path, spec):
    out = []
    _check(schema, value, path, spec, out)
    return out


def schema_for(schema_name_or_schema, spec=None):
    """A schema dict from a component name ('Volume'), a '#/...' reference, or a schema dict."""
    spec = spec or load_spec()
    if isinstance(schema_name_or_schema, dict):
        return schema_name_or_schema
    if schema_name_or_schema.startswith("#/"):
        return resolve(schema_name_or_schema, spec)
    return spec["components"]["schemas"][schema_name_or_schema]


def errors(schema_name_or_schema, instance, spec=None):
    """Every mismatch of `instance` against the schema, as 'path: problem' strings ([] = valid)."""
    spec = spec or load_spec()
    return _errors(schema_for(schema_name_or_schema, spec), instance, "$", spec)


def validate(schema_name_or_schema, instance, spec=None):
    """Raises ValidationError (an AssertionError) unless `instance` matches the schema."""
    found = errors(schema_name_or_schema, instance, spec)
    if found:
        raise ValidationError(found)


def operations(spec=None):
    """Every (path, method, operation) of the spec, methods lower-case."""
    spec = spec or load_spec()
    out = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                out.append((path, method, item[method]))
    return out


def response_spec(path, method, status, spec=None):
    """The response object documented for (path, method, status); `default` only for 5xx.

    Raises KeyError when the spec does not document that status for the operation.
    """
    spec = spec or load_spec()
    responses = spec["paths"][path][method.lower()]["responses"]
    key = str(status)
    if key in responses:
        return _deref(responses[key], spec)
    if status >= 500 and "default" in responses:
        return _deref(responses["default"], spec)
    raise KeyError(f"{method.upper()} {path} does not document status {status} (has {sorted(responses)})")


def response_schema(path, method, status, spec=None):
    """The JSON schema of the documented response body, or None for a response without content."""
    spec = spec or load_spec()
    content = response_spec(path, method, status, spec).get("content")
    if not content:
        return None
    if "application/json" not in content:  # e.g. /metrics: text/plain
        return next(iter(content.values()))["schema"]
    return content["application/json"]["schema"]


def request_schema(path, method, spec=None):
    """The JSON schema of the operation's request body, or None when it takes none."""
    spec = spec or load_spec()
    body = _deref(spec["paths"][path][method.lower()].get("requestBody"), spec)
    if not body:
        return None
    return body["content"]["application/json"]["schema"]


def validate_response(path, method, status, body, spec=None):
    """Checks that `status` is documented for the operation and `body` matches its schema."""
    spec = spec or load_spec()
    schema = response_schema(path, method, status, spec)
    if schema is None:
        if body not in (None, b"", ""):
            raise ValidationError([f"{method.upper()} {path} {status}: documented without a body, got {body!r:.80}"])
        return
    found = _errors(schema, body, "$", spec)
    if found:
        raise ValidationError([f"{method.upper()} {path} {status}: {e}" for e in found])


def unsupported_keywords(spec=None):
    """'where: keyword' for every schema keyword this validator would silently ignore."""
    spec = spec or load_spec()
    found = []

    def walk_schema(schema, where):
        if not isinstance(schema, dict):
            return
        for key, value in schema.items():
            if key in ("properties",):
                for name, sub in value.items():
                    walk_schema(sub, f"{where}.{name}")
            elif key in ("items", "additionalProperties"):
                walk_schema(value, f"{where}.{key}")
            elif key in ("allOf", "oneOf"):
                for i, sub in enumerate(value):
                    walk_schema(sub, f"{where}.{key}[{i}]")
            elif key not in _CHECKED and key not in _ANNOTATIONS:
                found.append(f"{where}: {key}")

    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        walk_schema(schema, f"#/components/schemas/{name}")
    for path, method, op in operations(spec):
        for status, resp in op.get("responses", {}).items():
            for media in (resp.get("content") or {}).values():
                walk_schema(media.get("schema"), f"{method} {path} {status}")
        body = op.get("requestBody")
        if body and "content" in body:
            for media in body["content"].values():
                walk_schema(media.get("schema"), f"{method} {path} requestBody")
    return found


def dangling_references(spec=None):
    """Every '$ref' in the spec that does not resolve."""
    spec = spec or load_spec()
    bad = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    try:
                        resolve(value, spec)
                    except (KeyError, ValueError):
                        bad.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return bad
