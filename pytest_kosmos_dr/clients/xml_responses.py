"""botocore's rest-xml answers (S3, Route53) parsed for less CPU, to the same values (``tune_xml_parsing``).

An S3 version listing of 20,000 archives cost the gate ~2 s of CPU in botocore, in the one interpreter lock
every other read needs: each page was parsed twice (once to look for an error inside a 200 answer, once to
read it), and each element's children were matched to the model's members through a regular expression
and a generic dispatch per value. Here:

* the 200-error check keeps botocore's rule (an ``<Error>`` root or XML that does not parse is a 500, to
  retry) and hands the tree it parsed to the parser of the same answer instead of parsing it again;
* a structure's children are matched through a table made once per model shape (XML name -> member),
  and text members (strings, booleans, integers, timestamps) are converted directly. Anything the table
  does not cover exactly as botocore would (exceptions, unions, XML attributes, a repeated scalar, ...)
  goes through botocore's own code.

Equal to botocore's parse on moto's answers: ``tests/test_xml_responses.py``. Left as botocore has
it if botocore's parser or handlers change shape."""

from __future__ import annotations

import threading
from xml.etree import ElementTree

_TEXT_TYPES = ("string", "character", "boolean", "integer", "long", "timestamp")


def tune_xml_parsing(session) -> None:
    """Both changes on a botocore session, before its clients are made."""
    from botocore import handlers, parsers

    factory = session.get_component("response_parser_factory")
    events = session.get_component("event_emitter")
    base = getattr(parsers, "RestXMLParser", None)
    needed = ("_handle_structure", "_member_key_name", "_parse_xml_string_to_dom", "KNOWN_LOCATIONS")
    if (type(factory) is not parsers.ResponseParserFactory or base is None
            or not all(hasattr(base, name) for name in needed)
            or parsers.PROTOCOL_PARSERS.get("rest-xml") is not base
            or not callable(getattr(handlers, "_handle_200_error", None))
            or not callable(getattr(handlers, "_should_handle_200_error", None))
            or not hasattr(events, "register_first")):
        return
    fast = _fast_parser_class(base)
    session.register_component("response_parser_factory", _Factory(factory, fast))
    events.unregister("before-parse.s3.*", handlers._handle_200_error)
    events.register_first("before-parse.s3.*", _handle_200_error_once)


class _Factory:
    """botocore's factory (its defaults: our timestamp parser) with the fast rest-xml parser."""

    def __init__(self, factory, fast) -> None:
        self._factory, self._fast = factory, fast

    def set_parser_defaults(self, **kwargs) -> None:
        self._factory.set_parser_defaults(**kwargs)

    def create_parser(self, protocol_name):
        if protocol_name == "rest-xml":
            return self._fast(**self._factory._defaults)
        return self._factory.create_parser(protocol_name)


# the tree the 200-error check parsed, for the parser of the same answer (same thread, same body object)
_parsed = threading.local()


def _handle_200_error_once(operation_model, response_dict, **kwargs) -> None:
    """botocore's ``_handle_200_error``: S3 may answer 200 with an error (or a cut-off body) inside; that
    becomes a 500 so botocore retries it. The parsed tree is kept for the parser."""
    from botocore import handlers

    _parsed.body = _parsed.root = None
    if not handlers._should_handle_200_error(operation_model, response_dict):
        return
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not body:
        return
    try:
        root = _parse(body)
    except ElementTree.ParseError:
        response_dict["status_code"] = 500
        return
    if root.tag == "Error":
        response_dict["status_code"] = 500
        return
    _parsed.body, _parsed.root = body, root


def _parse(body):
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(), encoding="utf-8")
    parser.feed(body)
    return parser.close()


_LOCAL_NAMES: dict[str, str] = {}  # tag -> tag without its {namespace} (botocore's ``_node_tag``)


def _local_name(tag: str) -> str:
    name = _LOCAL_NAMES[tag] = tag.rpartition("}")[2] if "{" in tag else tag
    return name


def _fast_parser_class(base):
    from botocore.utils import is_json_value_header

    class FastRestXMLParser(base):
        _plans: dict[int, tuple] = {}

        def _parse_xml_string_to_dom(self, xml_string):
            if xml_string is getattr(_parsed, "body", None) and _parsed.root is not None:
                root, _parsed.body, _parsed.root = _parsed.root, None, None
                return root
            return super()._parse_xml_string_to_dom(xml_string)

        def _plan(self, shape):
            """XML name -> (member name, shape, kind) in the model's member order, or None where the
            table would not parse exactly as botocore does."""
            kept = self._plans.get(id(shape))
            if kept is not None and kept[0] is shape:
                return kept[1]
            plan: dict | None = {}
            if shape.metadata.get("exception", False) or shape.is_tagged_union:
                plan = None
            else:
                for member_name, member_shape in shape.members.items():
                    serialization = member_shape.serialization
                    if serialization.get("location") in self.KNOWN_LOCATIONS or serialization.get("eventheader"):
                        continue
                    xml_name = self._member_key_name(member_shape, member_name)
                    if serialization.get("xmlAttribute") or xml_name in plan:
                        plan = None
                        break
                    kind = member_shape.type_name
                    if kind not in _TEXT_TYPES or (kind == "string" and is_json_value_header(member_shape)):
                        kind = None
                    plan[xml_name] = (member_name, member_shape, kind)
            self._plans[id(shape)] = (shape, plan)
            return plan

        def _handle_structure(self, shape, node):
            plan = self._plan(shape)
            if plan is None or isinstance(node, list):
                return super()._handle_structure(shape, node)
            found: dict = {}
            names = _LOCAL_NAMES
            for child in node:
                name = names.get(child.tag) or _local_name(child.tag)
                if name not in plan:
                    continue
                if name in found:
                    earlier = found[name]
                    if isinstance(earlier, list):
                        earlier.append(child)
                    else:
                        found[name] = [earlier, child]
                else:
                    found[name] = child
            parsed = {}
            timestamp = self._timestamp_parser
            for xml_name, (member_name, member_shape, kind) in plan.items():
                child = found.get(xml_name)
                if child is None:
                    continue
                if kind is None or isinstance(child, list):
                    parsed[member_name] = self._parse_shape(member_shape, child)
                    continue
                text = child.text
                if text is None:
                    text = ""
                if kind == "string" or kind == "character":
                    parsed[member_name] = text
                elif kind == "boolean":
                    parsed[member_name] = text == "true"
                elif kind == "timestamp":
                    parsed[member_name] = timestamp(text)
                else:
                    parsed[member_name] = int(text)
            return parsed

    return FastRestXMLParser
