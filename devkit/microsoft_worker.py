"""Drive Microsoft's own Python worker runtime (`azure-functions-runtime`, Python 3.13) over this
app, as Azure's proxy worker does: initialise it on the app's folder (it indexes
`function_app.py` itself), ask for the functions' metadata, load a function and invoke it.

`python -m devkit.microsoft_worker APP_DIR` reads invocations as JSON on stdin, each a function's
name and its trigger's data (`_trigger_data`: ``{"function": name, "http": {"method", "url",
"headers", "body"}}``, ``"queue": {"body", "id", "dequeue_count"}`` or ``"timer": {"past_due"}``)
and prints one JSON object: the status of the worker's initialisation, every function it indexed
with its raw bindings, and each invocation's status (the worker's exception, if any) with its
HTTP answer (status, headers, body base64).

On Azure the proxy worker receives the host's gRPC messages and hands them to the runtime with
its generated protobuf module (`properties["protos"]`). That module is not published on PyPI,
so the messages here are plain stand-ins with the protobuf field names the runtime reads and
writes; everything else (indexing, the binding checks, the conversion of the request to
`func.HttpRequest` and of the answer back, the thread pool) is Microsoft's code. The devkit host
(`devkit.host`) stands in for the Functions host; this checks the app against the worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import types
from typing import Any

#: The `oneof` members of the messages the runtime asks `WhichOneof` about.
_ONEOF_MEMBERS = (
    "data",
    "rpc_shared_memory",
    "http",
    "string",
    "bytes",
    "json",
    "int",
    "double",
    "stream",
    "collection_bytes",
    "collection_string",
    "collection_double",
    "collection_sint64",
    "model_binding_data",
    "collection_model_binding_data",
)


class Message:
    """A protobuf message stand-in: its fields as attributes, and `WhichOneof`."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def WhichOneof(self, group: str) -> str | None:  # protobuf's own name
        """The member of a `oneof` that is set (the runtime asks for `data` and `pb`)."""
        for name in _ONEOF_MEMBERS:
            if self.__dict__.get(name) is not None:
                return name
        return None


def _message(name: str, **constants: Any) -> type[Message]:
    return type(name, (Message,), constants)


def protos() -> types.SimpleNamespace:
    """The message classes and enum values the runtime uses, by their protobuf names."""
    binding_info = _message("BindingInfo", out=1, inout=2, undefined=0)
    setattr(binding_info, "in", 0)  # a keyword: protobuf's classes carry it all the same
    same_site = types.SimpleNamespace(Lax=1, Strict=2, ExplicitNone=3)
    names = [
        "RpcFunctionMetadata",
        "RpcRetryOptions",
        "WorkerInitResponse",
        "WorkerMetadata",
        "RpcException",
        "FunctionMetadataResponse",
        "FunctionLoadResponse",
        "InvocationResponse",
        "TypedData",
        "RpcHttp",
        "ParameterBinding",
        "NullableString",
        "NullableBool",
        "NullableDouble",
        "NullableTimestamp",
    ]
    return types.SimpleNamespace(
        StatusResult=_message("StatusResult", Failure=0, Success=1, Cancelled=2),
        BindingInfo=binding_info,
        RpcHttpCookie=_message("RpcHttpCookie", SameSite=same_site),
        **{name: _message(name) for name in names},
    )


def _request(messages: types.SimpleNamespace, kind: str, **fields: Any) -> Message:
    """A `StreamingMessage` as the proxy worker hands it over (`request.<kind>`)."""
    return Message(
        request=Message(**{kind: Message(**fields)}),
        properties={"host": "127.0.0.1", "protos": messages},
    )


def _status(result: Any) -> dict[str, Any]:
    exception = getattr(result, "exception", None)
    return {
        "status": "success" if result.status == 1 else "failure",
        "exception": getattr(exception, "message", None),
    }


def _body(typed: Any) -> str:
    """An answer's body (TypedData), base64: bytes or a string as the runtime set it."""
    if typed is None:
        return ""
    raw = typed.bytes if getattr(typed, "bytes", None) is not None else typed.string or ""
    return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()


def _trigger_data(
    messages: types.SimpleNamespace, call: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The trigger's TypedData and trigger metadata, as the host sends them: an HTTP request
    (`http`), a queue message with its id and dequeue count (`queue`), a timer's firing
    (`timer`)."""
    typed = messages.TypedData
    if "queue" in call:
        queued = call["queue"]
        metadata = {
            "Id": typed(string=queued["id"]),
            "DequeueCount": typed(json=json.dumps(queued.get("dequeue_count", 1))),
            "PopReceipt": typed(string="pop-receipt"),
        }
        return typed(string=queued["body"]), metadata
    if "timer" in call:
        info = {
            "Schedule": {"AdjustForDST": True},
            "IsPastDue": call["timer"].get("past_due", False),
        }
        return typed(json=json.dumps(info)), {}
    http = call["http"]
    request = messages.RpcHttp(
        method=http["method"],
        url=http["url"],
        headers=http.get("headers", {}),
        body=typed(bytes=http.get("body", "").encode()),
        params=http.get("params", {}),
        query=http.get("query", {}),
    )
    return typed(http=request), {}


async def serve(app_dir: str, invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """Initialise the runtime on `app_dir`, list its functions, run `invocations` in turn."""
    from azure_functions_runtime import handle_event as worker
    from azure_functions_runtime.utils.threadpool import (
        start_threadpool_executor,
        stop_threadpool_executor,
    )

    messages = protos()
    start_threadpool_executor()
    try:
        init = await worker.worker_init_request(
            _request(
                messages, "worker_init_request", capabilities={}, function_app_directory=app_dir
            )
        )
        found: dict[str, Any] = {"init": _status(init.result), "functions": {}, "answers": []}
        if found["init"]["status"] != "success":
            return found
        metadata = await worker.functions_metadata_request(
            _request(messages, "functions_metadata_request", function_app_directory=app_dir)
        )
        by_name = {m.name: m for m in metadata.function_metadata_results}
        found["functions"] = {
            name: [json.loads(raw) for raw in m.raw_bindings] for name, m in by_name.items()
        }
        for number, call in enumerate(invocations):
            function = by_name[call["function"]]
            await worker.function_load_request(
                _request(
                    messages,
                    "function_load_request",
                    function_id=function.function_id,
                    metadata=function,
                )
            )
            trigger = next(
                b for b in found["functions"][call["function"]] if "Trigger" in b["type"]
            )
            data, metadata = _trigger_data(messages, call)
            answer = await worker.invocation_request(
                _request(
                    messages,
                    "invocation_request",
                    invocation_id=f"invocation-{number}",
                    function_id=function.function_id,
                    input_data=[messages.ParameterBinding(name=trigger["name"], data=data)],
                    trigger_metadata=metadata,
                    trace_context=Message(trace_parent="", trace_state="", attributes={}),
                    retry_context=Message(retry_count=0, max_retry_count=0, exception=None),
                )
            )
            entry: dict[str, Any] = _status(answer.result)
            returned = getattr(answer, "return_value", None)
            if returned is not None and getattr(returned, "http", None) is not None:
                entry.update(
                    http_status=int(returned.http.status_code),
                    headers=dict(returned.http.headers),
                    body=_body(returned.http.body),
                )
            found["answers"].append(entry)
        return found
    finally:
        stop_threadpool_executor()


def main() -> None:
    """`python -m devkit.microsoft_worker APP_DIR` < invocations.json: one JSON object out."""
    app_dir = sys.argv[1]
    invocations = json.loads(sys.stdin.read() or "[]")
    sys.path.insert(0, app_dir)  # the worker puts the script root on sys.path
    print(json.dumps(asyncio.run(serve(app_dir, invocations))))


if __name__ == "__main__":
    main()
