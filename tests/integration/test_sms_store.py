"""Incoming SMS, opt-outs and status callbacks against the session Azurite (functions called
directly with signed requests, as the Functions worker would call them)."""

from __future__ import annotations

import logging
import random
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from twilio.request_validator import RequestValidator

from devkit.azurite import Azurite
from switchboard import records
from switchboard.logbook.statuses import Kind
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How, OptedOut, ensure_can_text
from switchboard.optouts.store import OptOutStore
from switchboard.outbound import wording
from switchboard.outbound.messagelog import record_outbound
from switchboard.settings import Settings, get_settings, reset_settings_cache
from switchboard.sms import blueprint as sms_bp
from switchboard.sms import webhook as sms_webhook
from switchboard.status import blueprint as status_bp
from switchboard.status import callbacks as status_callbacks
from switchboard.status import merge as status
from switchboard.storage import tables

TOKEN = "sms-integration-token-0123456789"
BASE = "http://localhost:7071"
SENDER = "+15558675310"
BUSINESS = "+15017122661"
OWNER = "+15005550006"


@dataclass
class Env:
    settings: Settings
    messages: RecordStore
    calls: RecordStore
    optouts: OptOutStore


@pytest.fixture
def env(azurite: Azurite, clean_env: pytest.MonkeyPatch, unique_name: str) -> Iterator[Env]:
    """Settings on fresh tables of the session Azurite."""
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TABLE_MESSAGE_LOG": unique_name + "msg",
        "TABLE_CALL_LOG": unique_name + "call",
        "TABLE_OPT_OUT": unique_name + "opt",
        "SMS_AUTO_REPLY": "Thanks, we got it.",
        "OWNER_NUMBER": OWNER,
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    reset_settings_cache()
    settings = get_settings()
    yield Env(
        settings,
        RecordStore.messages(settings),
        RecordStore.calls(settings),
        OptOutStore.from_settings(settings),
    )
    reset_settings_cache()


def signed_request(
    path: str, params: dict[str, str], *, token: str = TOKEN, headers: dict[str, str] | None = None
) -> func.HttpRequest:
    url = BASE + path
    signature = str(RequestValidator(token).compute_signature(url, params))
    return func.HttpRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            **(headers or {}),
        },
        body=urlencode(params).encode(),
    )


def sms_params(body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "a" * 32,
        "From": SENDER,
        "To": BUSINESS,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def post_sms(params: dict[str, str], **kwargs: Any) -> func.HttpResponse:
    return sms_bp.sms_incoming(signed_request("/api/sms/incoming", params, **kwargs))


def twiml(response: func.HttpResponse) -> ET.Element:
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.get_body())  # noqa: S314 - the app's own TwiML


def partition(store: RecordStore, key: str) -> list[dict[str, Any]]:
    return list(tables.query(store.table, "PartitionKey eq @pk", {"pk": key}))


def all_rows(store: Any) -> list[dict[str, Any]]:
    return list(store.table.list_entities())


# --- the opt-out store and the send-time check ---


def test_opt_out_store_round_trip(env: Env) -> None:
    store = env.optouts
    assert store.get(SENDER) is None
    ensure_can_text(SENDER, store)
    assert store.opt_out(SENDER, How.KEYWORD, keyword="STOP", business_number=BUSINESS)
    # Already opted out: the first record stays, nothing is written.
    assert not store.opt_out(SENDER, How.TWILIO_21610)
    record = store.get(SENDER)
    assert record is not None
    assert (record.how, record.keyword, record.business_number) == (How.KEYWORD, "STOP", BUSINESS)
    with pytest.raises(OptedOut, match=r"\+1555\*\*\*5310 has opted out: replied STOP"):
        ensure_can_text(SENDER, store)
    assert store.opt_in(SENDER)
    assert not store.opt_in(SENDER)
    assert not store.is_opted_out(SENDER)
    assert store.opt_out(SENDER, How.OPERATOR)
    assert store.get(SENDER).how == How.OPERATOR  # type: ignore[union-attr]


# --- incoming SMS ---


def test_stop_records_opt_out_and_start_removes_it(env: Env) -> None:
    stop = sms_params("  Stop ")
    assert list(twiml(post_sms(stop))) == []
    entity = tables.get_or_none(env.optouts.table, SENDER, "optout")
    assert entity is not None
    assert (entity["How"], entity["Keyword"], entity["MessageSid"]) == (
        "keyword",
        "STOP",
        stop["MessageSid"],
    )
    logged = env.messages.get(stop["MessageSid"])
    assert logged is not None
    assert (logged["Direction"], logged["Status"], logged["Body"]) == (
        "inbound",
        "received",
        "  Stop ",
    )

    # While opted out, an ordinary text is forwarded to the owner but gets no auto-reply.
    hello = twiml(post_sms(sms_params("hello?")))
    assert [m.attrib.get("to") for m in hello.findall("Message")] == [OWNER]

    assert list(twiml(post_sms(sms_params("unstop")))) == []
    assert env.optouts.get(SENDER) is None


def test_retried_webhook_writes_nothing_twice(env: Env) -> None:
    stop = sms_params("STOP")
    headers = {"I-Twilio-Idempotency-Token": "tok-1"}
    post_sms(stop, headers=headers)
    rows_after_first = partition(env.messages, stop["MessageSid"])
    optout_etag = tables.etag_of(tables.get_or_none(env.optouts.table, SENDER, "optout"))

    # START comes in, then Twilio retries the earlier STOP: the person stays opted in.
    post_sms(sms_params("START"))
    assert env.optouts.get(SENDER) is None
    assert list(twiml(post_sms(stop, headers=headers))) == []
    assert env.optouts.get(SENDER) is None
    rows_after_retry = partition(env.messages, stop["MessageSid"])
    assert [(r["RowKey"], r.metadata["etag"]) for r in rows_after_retry] == [
        (r["RowKey"], r.metadata["etag"]) for r in rows_after_first
    ]
    assert optout_etag  # the first STOP did write its opt-out

    hello = sms_params("hi")
    first = post_sms(hello).get_body()
    before = [(r["PartitionKey"], r["RowKey"], r.metadata["etag"]) for r in all_rows(env.messages)]
    assert post_sms(hello).get_body() == first  # the same reply again (Twilio never got it)
    after = [(r["PartitionKey"], r["RowKey"], r.metadata["etag"]) for r in all_rows(env.messages)]
    assert after == before


def test_help_and_mms(env: Env) -> None:
    (help_reply,) = twiml(post_sms(sms_params("HELP"))).findall("Message")
    assert help_reply.text == wording.HELP_DEFAULT  # SMS_HELP_TEXT is not set

    mms = sms_params(
        "see <this> & ]]>",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/m/ME0",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/m/ME1",
        MediaContentType1="image/png",
    )
    reply, forward = twiml(post_sms(mms)).findall("Message")
    assert reply.text == "Thanks, we got it."
    assert forward.findtext("Body") == f"From {SENDER}: see <this> & ]]> [2 attachments]"
    assert [m.text for m in forward.findall("Media")] == [mms["MediaUrl0"], mms["MediaUrl1"]]
    record = env.messages.get(mms["MessageSid"])
    assert record is not None
    assert record["NumMedia"] == 2
    assert records.to_json(record)["mediaUrls"] == [mms["MediaUrl0"], mms["MediaUrl1"]]


def test_bad_signature_is_403_and_writes_nothing(env: Env) -> None:
    params = sms_params("STOP")
    for response in (
        post_sms(params, token="wrong-token"),
        sms_bp.sms_incoming(
            func.HttpRequest(
                method="POST",
                url=BASE + "/api/sms/incoming",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=urlencode(params).encode(),
            )
        ),
        status_bp.status_message(
            signed_request(
                "/api/status/message",
                {
                    "MessageSid": params["MessageSid"],
                    "MessageStatus": "failed",
                    "ErrorCode": "21610",
                    "To": SENDER,
                },
                token="wrong-token",
            )
        ),
        status_bp.status_call(
            signed_request(
                "/api/status/call", {"CallSid": "CA1", "CallStatus": "completed"}, token="x"
            )
        ),
    ):
        assert response.status_code == 403
        assert b"<Response" not in response.get_body()
    assert all_rows(env.messages) == []
    assert all_rows(env.calls) == []
    assert all_rows(env.optouts) == []


def test_storage_down_answers_without_texts_and_logs_masked(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
        + (
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
        )
        + ";TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    monkeypatch.setattr(
        sms_webhook, "message_store_factory", lambda s: RecordStore.messages(_dead(s, dead))
    )
    monkeypatch.setattr(
        sms_webhook, "optout_store_factory", lambda s: OptOutStore.from_settings(_dead(s, dead))
    )
    caplog.set_level(logging.INFO)
    # A STOP that cannot be recorded is a 503 (Twilio records the failure, not a success).
    stop = post_sms(sms_params("STOP"))
    assert stop.status_code == 503
    assert b"<Response" not in stop.get_body()
    # Texts are answered (200, valid TwiML) without anything automatic: the line's budget and
    # the sender's window cannot be read, so the outbound policy fails closed.
    for body in ("hello", "help"):
        answer = post_sms(sms_params(body))
        assert answer.status_code == 200
        assert twiml(answer).findall("Message") == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3
    assert all("+1555***5310" in e and "8675310" not in e for e in errors)
    assert sum("nothing automatic is sent" in e for e in errors) == 2


def _dead(settings: Settings, connection_string: str) -> Settings:
    from switchboard.settings import replace

    return replace(settings, azure_web_jobs_storage=connection_string)


# --- status callbacks ---


def post_status(kind: Kind, params: dict[str, str], query: str = "") -> func.HttpResponse:
    request = signed_request(f"/api/status/{kind.value}{query}", params)
    handler = status_bp.status_message if kind is Kind.MESSAGE else status_bp.status_call
    return handler(request)


def test_message_callbacks_out_of_order(env: Env) -> None:
    sid = "SM" + uuid.uuid4().hex
    record_outbound(env.messages, sid, SENDER, BUSINESS, "hi", (), "test")
    for state in ("delivered", "sent", "queued", "delivered"):
        response = post_status(Kind.MESSAGE, {"MessageSid": sid, "MessageStatus": state})
        assert response.status_code == 204
    record = env.messages.get(sid)
    assert record is not None
    assert (record["Status"], record["Body"], record["Direction"]) == (
        "delivered",
        "hi",
        "outbound",
    )


def test_unknown_sid_creates_a_marked_record_and_21610_opts_out(env: Env) -> None:
    sid = "SM" + uuid.uuid4().hex
    response = post_status(
        Kind.MESSAGE,
        {
            "MessageSid": sid,
            "MessageStatus": "failed",
            "ErrorCode": "21610",
            "To": SENDER,
            "From": BUSINESS,
        },
    )
    assert response.status_code == 204
    record = env.messages.get(sid)
    assert record is not None
    assert record["Unknown"] is True
    assert record["Status"] == "failed"
    assert records.to_json(record)["error"] == {"code": 21610, "message": ""}
    opt = env.optouts.get(SENDER)
    assert opt is not None
    assert (opt.how, opt.message_sid) == (How.TWILIO_21610, sid)
    with pytest.raises(OptedOut, match="21610"):
        ensure_can_text(SENDER, env.optouts)


def test_callback_with_record_id_finds_the_record_and_adds_the_alias(env: Env) -> None:
    env.calls.create("reminder-42", {"Status": "queued", "To": SENDER})
    sid = "CA" + uuid.uuid4().hex
    response = post_status(
        Kind.CALL,
        {"CallSid": sid, "CallStatus": "completed", "CallDuration": "12"},
        query="?id=reminder-42",
    )
    assert response.status_code == 204
    record = env.calls.get("reminder-42")
    assert record is not None
    assert (record["Status"], record["CallDuration"], record["Sid"]) == ("completed", 12, sid)
    assert env.calls.resolve(sid) == "reminder-42"
    assert env.calls.get(sid) is None  # no second record under the SID
    assert post_status(Kind.CALL, {"CallSid": sid}).status_code == 400


def test_concurrent_callbacks_on_one_record_lose_nothing(env: Env) -> None:
    sid = "CA" + uuid.uuid4().hex
    env.calls.create(sid, {"Status": "queued", "To": SENDER}, sid=sid)
    callbacks = [
        {"CallStatus": "initiated", "SipResponseCode": "100"},
        {"CallStatus": "ringing", "Price": "-0.0130"},
        {"CallStatus": "in-progress", "AnsweredBy": "human"},
        {"CallStatus": "completed", "CallDuration": "17", "Duration": "1", "PriceUnit": "USD"},
    ]
    updates = [status.parse_callback(Kind.CALL, {"CallSid": sid, **c}) for c in callbacks]
    work = updates * 6
    random.Random(7).shuffle(work)
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait(timeout=10)
        while True:
            with lock:
                if not work:
                    return
                update = work.pop()
            try:
                status_callbacks.apply_callback(env.calls, update)
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    record = env.calls.get(sid)
    assert record is not None
    assert {
        k: record.get(k)
        for k in (
            "Status",
            "SipResponseCode",
            "Price",
            "AnsweredBy",
            "CallDuration",
            "Duration",
            "PriceUnit",
        )
    } == {
        "Status": "completed",
        "SipResponseCode": 100,
        "Price": "-0.0130",
        "AnsweredBy": "human",
        "CallDuration": 17,
        "Duration": 1,
        "PriceUnit": "USD",
    }


def test_status_storage_down_is_503(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(settings: Settings) -> RecordStore:
        raise ConnectionError("storage down")

    monkeypatch.setitem(status_callbacks.store_factories, Kind.MESSAGE, broken)
    response = post_status(Kind.MESSAGE, {"MessageSid": "SM1", "MessageStatus": "sent"})
    assert response.status_code == 503
