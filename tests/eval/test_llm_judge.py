"""The pairwise LLM judge against stand-in OpenAI-compatible judges with known habits (no model)."""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kaizen.data.records import Message
from kaizen.eval.judges.llm import LLMJudge, combine_orders, letter_preference, parse_verdict
from kaizen.eval.prompts import EvalPrompt

ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)


def _judge_server(decide):
    """A /v1 server whose verdict is ``decide(answer_a, answer_b) -> (text, top_logprobs)``."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self._send({"data": [{"id": "fake-judge"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            got = dict(ANSWER.findall(body["messages"][-1]["content"]))
            text, top = decide(got["A"], got["B"])
            logprobs = {"content": [{"token": text[:1], "logprob": 0.0, "top_logprobs": top}]} if body.get("logprobs") else None
            self._send({"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "logprobs": logprobs, "finish_reason": "stop"}]})

        def _send(self, obj):
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1", seen


PROMPTS = [EvalPrompt(str(i), [Message("user", f"question {i}")]) for i in range(6)]
LONG = [f"a long answer number {i} with many words" for i in range(6)]
SHORT = [f"short {i}" for i in range(6)]


def test_parsing_and_order_combination_by_hand():
    assert parse_verdict("A is better... so [[B]]. Final: [[A]]") == "A"
    assert parse_verdict("no verdict") is None
    assert combine_orders(1.0, 0.0) == 1.0  # wins shown first, and wins shown second
    assert combine_orders(1.0, 1.0) == 0.5  # "first answer wins" both times: pure position bias, a tie
    assert combine_orders(0.5, None) == 0.5
    assert combine_orders(1.0, 0.5) == 0.75
    top = [{"token": "A", "logprob": math.log(0.6)}, {"token": " B", "logprob": math.log(0.2)},
           {"token": "C", "logprob": math.log(0.2)}, {"token": "x", "logprob": math.log(0.5)}]
    assert letter_preference(top) == pytest.approx((0.6 + 0.1) / 1.0)
    assert letter_preference([{"token": "x", "logprob": 0.0}]) is None


def test_position_bias_cancels_and_length_bias_shows_in_lc():
    srv, url, seen = _judge_server(lambda a, b: ("The first one. [[A]]", []))
    try:
        comp = LLMJudge(url + "#fake-judge").compare(PROMPTS, LONG, SHORT)
    finally:
        srv.shutdown()
    assert comp.outcomes == [0.5] * 6  # always "A": cancelled by the swapped order
    assert comp.details["first_position_preference"] == 1.0 and comp.details["order_consistency"] == 0.0
    assert len(seen) == 12 and seen[0]["temperature"] == 0.0
    assert any("[User Question]\nquestion 0" in body["messages"][1]["content"] for body in seen)

    srv, url, _ = _judge_server(lambda a, b: ("[[A]]" if len(a) > len(b) else "[[B]]", []))
    try:
        comp = LLMJudge(url).compare(PROMPTS, LONG, SHORT)  # no #model: the server's first
    finally:
        srv.shutdown()
    assert comp.outcomes == [1.0] * 6 and comp.details["order_consistency"] == 1.0
    assert comp.details["unparsed"] == 0 and comp.details["judge_model"] == "fake-judge"


def test_logprob_mode_and_unreadable_verdicts():
    def soft(a, b):
        p = 0.8 if len(a) > len(b) else 0.2
        return "A", [{"token": "A", "logprob": math.log(p)}, {"token": "B", "logprob": math.log(1 - p)}]

    srv, url, seen = _judge_server(soft)
    try:
        comp = LLMJudge(url, mode="logprobs").compare(PROMPTS, LONG, SHORT)
        garbled = LLMJudge(url, mode="verdict").compare(PROMPTS[:2], LONG[:2], SHORT[:2])
    finally:
        srv.shutdown()
    assert comp.outcomes == pytest.approx([0.8] * 6)  # (0.8 + (1 - 0.2)) / 2
    assert seen[0]["max_tokens"] == 1 and seen[0]["top_logprobs"] == 20
    assert garbled.outcomes == [0.5, 0.5] and garbled.details["unparsed"] == 4
