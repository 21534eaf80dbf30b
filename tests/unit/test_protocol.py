"""Protocol v1 parsing and validation, without sockets."""

import json

import pytest

from zero_nb.signaling.protocol import (
    AppMessage,
    ErrorCode,
    Join,
    Leave,
    Media,
    Ping,
    ProtocolViolation,
    Relay,
    parse,
)


def code_of(raw):
    with pytest.raises(ProtocolViolation) as info:
        parse(raw)
    assert info.value.message  # every violation explains itself
    return info.value.code


def test_join_fields_parsed():
    """A full join parses into a Join with every field."""
    msg = parse(json.dumps({"type": "join", "session": "lab-1.a_b", "name": "alice",
                            "password": "pw", "token": "t"}))
    assert msg == Join(session="lab-1.a_b", name="alice", password="pw", token="t")


def test_join_without_session_means_new_session():
    """A join with no session asks the server for a fresh one."""
    assert parse('{"type":"join"}') == Join(session=None, name="", password=None, token=None)


@pytest.mark.parametrize("session", ["", "a b", "x" * 129, "é", "../x", 5])
def test_join_rejects_bad_session_ids(session):
    """Session ids are 1-128 characters of [A-Za-z0-9._-]."""
    assert code_of(json.dumps({"type": "join", "session": session})) is ErrorCode.BAD_MESSAGE


def test_join_rejects_long_name():
    """Names longer than 64 characters are refused."""
    assert code_of(json.dumps({"type": "join", "name": "n" * 65})) is ErrorCode.BAD_MESSAGE


def test_join_resume_secret():
    """resume_secret is an optional string of at most 128 characters."""
    msg = parse(json.dumps({"type": "join", "resume": "ab12", "resume_secret": "s3"}))
    assert msg.resume == "ab12" and msg.resume_secret == "s3"
    for bad in (5, ["s"], "x" * 129):
        assert code_of(json.dumps({"type": "join", "resume_secret": bad})) is \
            ErrorCode.BAD_MESSAGE


@pytest.mark.parametrize("raw", [
    "{", "[]", "3", '"join"', "null", '{"type": 1}', "{}",
    "[" * 100000 + "]" * 100000, '{"type":"ping","x":' + "9" * 5000 + "}",
])
def test_malformed_frames_are_bad_message(raw):
    """Invalid JSON, non-objects, missing type, deep nesting and huge ints are bad-message."""
    assert code_of(raw) is ErrorCode.BAD_MESSAGE


def test_binary_frames_refused():
    """Binary frames are refused with a hint to send JSON text."""
    with pytest.raises(ProtocolViolation, match="JSON text"):
        parse(b'{"type":"ping"}')


def test_unknown_type():
    """An unknown type gets unknown-type listing the valid ones."""
    with pytest.raises(ProtocolViolation, match="join") as info:
        parse('{"type":"hello"}')
    assert info.value.code is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("raw", [
    '{"type":"offer","sdp":"v=0"}', '{"type":"offer","to":"p"}',
    '{"type":"answer","to":3,"sdp":"x"}', '{"type":"candidate","to":"p"}',
    '{"type":"candidate","to":"p","candidate":"x"}',
    '{"type":"message","to":"p"}', '{"type":"message","to":5,"data":1}',
])
def test_relay_fields_checked(raw):
    """offer/answer need to+sdp, candidate needs to+candidate (object/null), message data."""
    assert code_of(raw) is ErrorCode.BAD_MESSAGE


def test_relay_drops_forged_from():
    """A client-supplied 'from' is stripped; the server sets it."""
    msg = parse('{"type":"offer","to":"p","sdp":"v=0","from":"evil"}')
    assert isinstance(msg, Relay) and "from" not in msg.body and msg.body["sdp"] == "v=0"


def test_candidate_null_is_end_of_candidates():
    """candidate: null is valid (end of candidates)."""
    msg = parse('{"type":"candidate","to":"p","candidate":null}')
    assert isinstance(msg, Relay) and msg.body["candidate"] is None


def test_simple_messages():
    """leave, ping and message parse to their types."""
    assert parse('{"type":"leave"}') == Leave()
    assert parse('{"type":"ping"}') == Ping()
    assert parse('{"type":"message","data":{"a":[1]}}') == AppMessage(to=None, data={"a": [1]})


def test_nan_and_infinity_are_not_json():
    """NaN/Infinity (a Python extension) are refused as bad-message."""
    for raw in ('{"type":"message","data":NaN}', '{"type":"message","data":[-Infinity]}'):
        assert code_of(raw) is ErrorCode.BAD_MESSAGE


def test_media_parses_audio_and_video():
    """media carries two booleans; join.media the same, optional."""
    assert parse('{"type":"media","audio":false,"video":true}') == Media(audio=False, video=True)
    join = parse('{"type":"join","media":{"audio":true,"video":false}}')
    assert isinstance(join, Join) and join.media == Media(audio=True, video=False)
    assert parse('{"type":"join","media":null}') == parse('{"type":"join"}')


def test_media_e2ee_is_an_optional_boolean():
    """media.e2ee: true when the participant encrypts; absent or null is false."""
    assert parse('{"type":"media","audio":true,"video":true,"e2ee":true}') == \
        Media(audio=True, video=True, e2ee=True)
    assert parse('{"type":"media","audio":true,"video":true,"e2ee":null}').e2ee is False
    join = parse('{"type":"join","media":{"audio":true,"video":true,"e2ee":true}}')
    assert isinstance(join, Join) and join.media is not None and join.media.e2ee
    assert Media(audio=True, video=False, e2ee=True).describe() == \
        {"audio": True, "video": False, "e2ee": True}
    assert Media(audio=True, video=False).describe() == {"audio": True, "video": False}


@pytest.mark.parametrize("raw", [
    '{"type":"media"}', '{"type":"media","audio":true}', '{"type":"media","video":false}',
    '{"type":"media","audio":1,"video":0}', '{"type":"media","audio":"no","video":true}',
    '{"type":"media","audio":null,"video":true}', '{"type":"join","media":true}',
    '{"type":"join","media":{"audio":true}}', '{"type":"join","media":[true,true]}',
    '{"type":"media","audio":true,"video":true,"e2ee":1}',
    '{"type":"join","media":{"audio":true,"video":true,"e2ee":"yes"}}',
])
def test_media_fields_checked(raw):
    """media (and join.media) needs both audio and video as JSON booleans: else bad-message."""
    assert code_of(raw) is ErrorCode.BAD_MESSAGE
