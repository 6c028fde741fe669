"""Read one raw row of any supported format into a typed record, or say exactly what is wrong.

    row = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
    detect_format(row)          # "alpaca"
    row_to_demonstration(row)   # Demonstration([user "Name a colour.", assistant "Blue."])

Formats (TRL's dataset formats, plus Alpaca, ShareGPT and Kaizen's K-way ranking):

    text                 {"text"}
    messages             {"messages": [{"role", "content", "weight"?}...]}  (weight 0: context, no loss)
    prompt_completion    {"prompt": str|[msgs], "completion": str|[msgs]}
    prompt_only          {"prompt": str|[msgs]}
    preference           {"prompt", "chosen", "rejected"}   (answers: str or [one assistant msg])
    preference_implicit  {"chosen", "rejected"}             (the prompt is their shared start; Anthropic
                                                             HH-RLHF's "\n\nHuman: ...\n\nAssistant: ..."
                                                             transcripts are read as conversations)
    alpaca               {"instruction", "input", "output"} (prompt = instruction + "\\n\\n" + input)
    sharegpt             {"conversations": [{"from": system|human|gpt, "value"}...]}
    ranking              Ranking.to_dict(): {"prompt", "answers", "ranks", "labeler", ...}

A key whose value is null counts as absent (Arrow tables store a missing key as null), and
columns a format does not know are ignored; ``id`` is kept where the record has one.

Every parser raises ``DataError(DataIssue(file, line, field, message))`` whose field points into
the row (``messages[2].role``, ``judgements[1].helpful``) so the user can fix it; soft problems
(duplicate answers ranked differently) go to ``warnings`` instead. Conversations must be what
the chat templates we train with expect: an optional system message first, then turns that
alternate user / assistant starting with user. A prompt ends with a user turn, a
demonstration with an assistant turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kaizen.data.errors import DataError, DataIssue
from kaizen.data.records import (
    MAX_ANSWERS, METADATA_FLAGS, MIN_ANSWERS, ROLES, Conversation, Demonstration, Judgement, Message,
    PreferencePair, Ranking, ranking_from_pair,
)

FORMATS: tuple[str, ...] = ("text", "messages", "prompt_completion", "prompt_only", "preference",
                            "preference_implicit", "alpaca", "sharegpt", "ranking")
KINDS: tuple[str, ...] = ("text", "demonstration", "prompt", "preference", "ranking")

# The keys that identify each format (listed when a row matches none).
FORMAT_KEYS: dict[str, tuple[str, ...]] = {
    "text": ("text",), "messages": ("messages",), "prompt_completion": ("prompt", "completion"),
    "prompt_only": ("prompt",), "preference": ("prompt", "chosen", "rejected"),
    "preference_implicit": ("chosen", "rejected"), "alpaca": ("instruction", "input", "output"),
    "sharegpt": ("conversations",), "ranking": ("prompt", "answers", "ranks"),
}
# Every key a format reads; anything else in a row is an extra column that conversion drops.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    **{f: frozenset(keys + ("id",)) for f, keys in FORMAT_KEYS.items()},
    "messages": frozenset({"messages", "id", "meta"}),  # meta: where kaizen export found the row
    "ranking": frozenset({"prompt", "answers", "ranks", "labeler", "judgements", "all_bad", "id", "meta"}),
}
# ShareGPT speaker names seen in the wild (bing / chatgpt from scraped dumps).
SHAREGPT_ROLES: dict[str, str] = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                                  "assistant": "assistant", "bing": "assistant", "chatgpt": "assistant"}
JUDGEMENT_KEYS = ("helpful", "truthful", "harmless", "flags")

Warn = Callable[[str | None, str], None]


class _Bad(Exception):
    """One problem in the row being parsed; the public parsers turn it into a DataIssue."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _tname(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _format(row: Any) -> str:
    """The format of ``row`` from its keys; the more specific formats are tried first."""
    if not isinstance(row, dict):
        raise _Bad(None, f"expected a JSON object, got {_tname(row)}")
    keys = {k for k, v in row.items() if v is not None}
    if keys & {"answers", "ranks"}:
        return "ranking"
    if keys & {"chosen", "rejected"}:
        return "preference" if "prompt" in keys else "preference_implicit"
    for fmt, trigger in (("prompt_completion", {"completion"}), ("alpaca", {"instruction", "output"}),
                         ("sharegpt", {"conversations"}), ("messages", {"messages"}), ("text", {"text"}),
                         ("prompt_only", {"prompt"})):
        if keys & trigger:
            return fmt
    expected = "; ".join(f"{f} {{{', '.join(k)}}}" for f, k in FORMAT_KEYS.items())
    raise _Bad(None, f"no recognisable format: keys {sorted(row)}; expected one of: {expected}")


def detect_format(row: dict[str, Any], file: str = "<row>", line: int | None = None) -> str:
    """One of ``FORMATS``, from the row's keys; ``DataError`` if none matches."""
    try:
        return _format(row)
    except _Bad as e:
        raise DataError(DataIssue(file, line, e.field, e.message)) from None


# ---- field readers: each raises _Bad naming the field -------------------------------------

def _get(row: dict[str, Any], key: str) -> Any:
    if row.get(key) is None:
        raise _Bad(key, f"missing required field '{key}'")
    return row[key]


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Bad(field, f"expected a string, got {_tname(value)}")
    if not value.strip():
        raise _Bad(field, "empty string where text is required")
    return value


def _id(row: dict[str, Any]) -> str | None:
    value = row.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad("id", f"expected a string or integer, got {_tname(value)}")
    return str(value)


def _messages(value: Any, field: str, role_key: str = "role", content_key: str = "content",
              aliases: dict[str, str] | None = None) -> Conversation:
    """A list of message objects, roles mapped through ``aliases`` (ShareGPT's from/value)."""
    aliases = aliases or {r: r for r in ROLES}
    if not isinstance(value, list):
        raise _Bad(field, f"expected a list of messages, got {_tname(value)}")
    if not value:
        raise _Bad(field, "empty conversation")
    conv = []
    for i, m in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(m, dict):
            raise _Bad(where, f"expected a message object with '{role_key}' and '{content_key}', got {_tname(m)}")
        role = m.get(role_key)
        if role is None:
            raise _Bad(f"{where}.{role_key}", f"missing required field '{role_key}'")
        if not isinstance(role, str):
            raise _Bad(f"{where}.{role_key}", f"expected a string, got {_tname(role)}")
        if role not in aliases:
            raise _Bad(f"{where}.{role_key}", f"unknown role {role!r} (expected one of {', '.join(aliases)})")
        if m.get(content_key) is None:
            raise _Bad(f"{where}.{content_key}", f"missing required field '{content_key}'")
        conv.append(Message(aliases[role], _text(m[content_key], f"{where}.{content_key}"),  # type: ignore[arg-type]
                            _weight(m, aliases[role], where)))
    return conv


def _weight(m: dict[str, Any], role: str, where: str) -> int | None:
    """OpenAI's per-message ``weight``: 0 (context, no loss) or 1 (a target), on assistant turns only."""
    value = m.get("weight")
    if value is None:
        return None
    if isinstance(value, bool) or value not in (0, 1):
        raise _Bad(f"{where}.weight", f"weight must be 0 (context only) or 1 (train on this turn), got {value!r}")
    if role != "assistant":
        raise _Bad(f"{where}.weight", f"weight is only meaningful on assistant turns (this one is '{role}')")
    return int(value)


def _check_order(conv: Conversation, field: str, role_key: str = "role", prev: str | None = None) -> None:
    """System first, or right after a user turn (a reminder of the instructions before the answer:
    the "sandwich" defence, kaizen.safety.defences.remind); user / assistant alternating from user
    (``prev`` precedes conv)."""
    spoken = prev  # the last user / assistant turn so far: a reminder does not break the alternation
    for i, m in enumerate(conv):
        where = f"{field}[{i}].{role_key}"
        before = prev if i == 0 else conv[i - 1].role
        if m.role == "system":
            if before not in (None, "user"):
                raise _Bad(where, "a system message may only come first, or right after a user turn "
                                  "(a reminder before the answer)")
            continue
        if spoken is None:
            if m.role != "user":
                after = " after the system message" if before else ""
                raise _Bad(where, f"roles out of order: the first turn{after} must be 'user', got '{m.role}'")
        elif m.role == spoken:
            raise _Bad(where, f"roles out of order: two '{m.role}' turns in a row (turns must alternate user / assistant)")
        spoken = m.role


def _last_role(conv: Conversation) -> str:
    """The role a conversation ends on; a reminder system turn after a user turn still ends on the user."""
    if len(conv) > 1 and conv[-1].role == "system" and conv[-2].role == "user":
        return "user"
    return conv[-1].role


def _check_end(conv: Conversation, field: str, want: str, what: str, role_key: str = "role") -> None:
    last = _last_role(conv)
    if last != want:
        raise _Bad(f"{field}[{len(conv) - 1}].{role_key}", f"{what} must end with a '{want}' turn, got '{last}'")


def _prompt(value: Any, field: str = "prompt") -> Conversation:
    """A prompt: plain text (one user turn) or a conversation ending with a user turn."""
    if isinstance(value, str) and (turns := _transcript(value)) is not None:
        value = turns  # an HH-RLHF transcript ending "\n\nAssistant:": the conversation so far
    if isinstance(value, str):
        return [Message("user", _text(value, field))]
    if not isinstance(value, list):
        raise _Bad(field, f"expected a string or a list of messages, got {_tname(value)}")
    conv = _messages(value, field)
    _check_order(conv, field)
    _check_end(conv, field, "user", "a prompt")
    return conv


def _answer(value: Any, field: str) -> str:
    """An answer: plain text or a list holding one assistant message (TRL's conversational form)."""
    if isinstance(value, list):
        msgs = _messages(value, field)
        if len(msgs) != 1 or msgs[0].role != "assistant":
            roles = [m.role for m in msgs]
            raise _Bad(field, f"expected one assistant message, got roles {roles}")
        return msgs[0].content
    if isinstance(value, str):
        return _text(value, field)
    raise _Bad(field, f"expected a string or a list with one assistant message, got {_tname(value)}")


# ---- per-format readers ---------------------------------------------------------------------

def _prompt_completion(row: dict[str, Any]) -> tuple[Conversation, Conversation]:
    prompt = _prompt(_get(row, "prompt"))
    value = _get(row, "completion")
    if isinstance(value, str):
        return prompt, [Message("assistant", _text(value, "completion"))]
    completion = _messages(value, "completion")
    _check_order(completion, "completion", prev="user")
    return prompt, completion


def _conversation(row: dict[str, Any], fmt: str) -> Conversation:
    """The whole dialogue of a messages / sharegpt / prompt_completion / alpaca row (order checked)."""
    if fmt == "messages":
        conv = _messages(_get(row, "messages"), "messages")
        _check_order(conv, "messages")
        return conv
    if fmt == "sharegpt":
        conv = _messages(_get(row, "conversations"), "conversations", "from", "value", SHAREGPT_ROLES)
        _check_order(conv, "conversations", "from")
        return conv
    if fmt == "prompt_completion":
        prompt, completion = _prompt_completion(row)
        return prompt + completion
    instruction = _text(_get(row, "instruction"), "instruction")
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise _Bad("input", f"expected a string, got {_tname(extra)}")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [Message("user", user), Message("assistant", _text(_get(row, "output"), "output"))]


_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ \t]?")


def _transcript(text: str) -> list[dict[str, str]] | None:
    """Anthropic HH-RLHF's ``"\n\nHuman: hi\n\nAssistant: hello"`` as messages; None if ``text`` is not one.

    The format of https://huggingface.co/datasets/Anthropic/hh-rlhf (Bai et al. 2022); a trailing
    empty "Assistant:" (a prompt awaiting its answer) is dropped. Turn order is checked by the caller.
    """
    body = text.lstrip(" \t\r\n")
    if not body.startswith("Human:") or "\n\nAssistant:" not in body:
        return None
    parts = _HH_TURN.split("\n\n" + body)
    turns = [{"role": "user" if who == "Human" else "assistant", "content": said.strip()}
             for who, said in zip(parts[1::2], parts[2::2])]
    if turns and turns[-1]["role"] == "assistant" and not turns[-1]["content"]:
        turns.pop()
    return turns


def _shared_prompt(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split plain-text implicit preferences at their shared start, as TRL's ``extract_prompt``.

    The cut moves back to a word boundary so a shared first word stays with both answers;
    it cannot know a prompt that ends mid-sentence, so converted prompts are worth a look.
    """
    n, m = 0, min(len(chosen), len(rejected))
    while n < m and chosen[n] == rejected[n]:
        n += 1
    while n > 0 and not chosen[n - 1].isspace():
        n -= 1
    prompt = chosen[:n].strip()
    if not prompt:
        raise _Bad("chosen", "plain-text implicit preference: chosen and rejected share no leading prompt text")
    return prompt, _text(chosen[n:].strip(), "chosen"), _text(rejected[n:].strip(), "rejected")


def _pair(row: dict[str, Any], fmt: str, warn: Warn) -> PreferencePair:
    if fmt == "preference":
        prompt = _prompt(_get(row, "prompt"))
        chosen, rejected = _answer(_get(row, "chosen"), "chosen"), _answer(_get(row, "rejected"), "rejected")
    else:
        c, r = _get(row, "chosen"), _get(row, "rejected")
        if isinstance(c, str) and isinstance(r, str) and (tc := _transcript(c)) is not None \
                and (tr := _transcript(r)) is not None:
            c, r = tc, tr  # a transcript is a conversation: its turns, not a text split at the shared start
        if isinstance(c, str) and isinstance(r, str):
            text, chosen, rejected = _shared_prompt(c, r)
            prompt = [Message("user", text)]
        elif isinstance(c, list) and isinstance(r, list):
            convs = []
            for key, value in (("chosen", c), ("rejected", r)):
                conv = _messages(value, key)
                _check_order(conv, key)
                _check_end(conv, key, "assistant", f"an implicit-prompt '{key}' conversation")
                convs.append(conv)
            prompt, other = convs[0][:-1], convs[1][:-1]
            if prompt != other:
                i = next((i for i, (a, b) in enumerate(zip(prompt, other)) if a != b), min(len(prompt), len(other)))
                raise _Bad(f"rejected[{i}]", "chosen and rejected must share the same prompt turns; they differ here")
            chosen, rejected = convs[0][-1].content, convs[1][-1].content
        else:
            raise _Bad("rejected", f"chosen is a {_tname(c)} but rejected is a {_tname(r)}: both must be "
                                   "strings or both conversations")
    if chosen == rejected:
        warn("rejected", "same text as chosen: the pair teaches nothing")
    return PreferencePair(prompt, chosen, rejected, id=_id(row))


def _judgement(value: Any, field: str) -> Judgement:
    if value is None:
        return Judgement()
    if not isinstance(value, dict):
        raise _Bad(field, f"expected an object with {', '.join(JUDGEMENT_KEYS)}, got {_tname(value)}")
    for key in value:
        if key not in JUDGEMENT_KEYS and value[key] is not None:
            raise _Bad(f"{field}.{key}", f"unknown judgement key (expected {', '.join(JUDGEMENT_KEYS)})")
    helpful = value.get("helpful")
    if helpful is not None and (isinstance(helpful, bool) or not isinstance(helpful, int) or not 1 <= helpful <= 7):
        raise _Bad(f"{field}.helpful", f"must be an integer from 1 to 7 (InstructGPT's Likert scale), got {helpful!r}")
    for key in ("truthful", "harmless"):
        if value.get(key) is not None and not isinstance(value[key], bool):
            raise _Bad(f"{field}.{key}", f"expected true, false or null, got {_tname(value[key])}")
    flags = value.get("flags") or []
    if not isinstance(flags, list):
        raise _Bad(f"{field}.flags", f"expected a list of metadata flags, got {_tname(flags)}")
    for j, flag in enumerate(flags):
        if flag not in METADATA_FLAGS:
            raise _Bad(f"{field}.flags[{j}]", f"unknown metadata flag {flag!r} (known: {', '.join(METADATA_FLAGS)})")
    return Judgement(helpful, value.get("truthful"), value.get("harmless"), tuple(flags))


def _ranking(row: dict[str, Any], warn: Warn) -> Ranking:
    prompt = _prompt(_get(row, "prompt"))
    answers = _get(row, "answers")
    if not isinstance(answers, list):
        raise _Bad("answers", f"expected a list of answer strings, got {_tname(answers)}")
    k = len(answers)
    if not MIN_ANSWERS <= k <= MAX_ANSWERS:
        raise _Bad("answers", f"a ranking needs {MIN_ANSWERS} to {MAX_ANSWERS} answers, got {k}")
    answers = [_text(a, f"answers[{i}]") for i, a in enumerate(answers)]
    ranks = _get(row, "ranks")
    if not isinstance(ranks, list):
        raise _Bad("ranks", f"expected a list of integers, got {_tname(ranks)}")
    if len(ranks) != k:
        raise _Bad("ranks", f"has {len(ranks)} entries but there are {k} answers (one rank per answer)")
    for i, r in enumerate(ranks):
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise _Bad(f"ranks[{i}]", f"a rank must be a positive integer (1 = best), got {r!r}")
    if len(set(ranks)) == 1:
        raise _Bad("ranks", "all ranks are equal: no answer is preferred, so the ranking gives no pair (empty ranking)")
    judgements = row.get("judgements")
    if judgements is not None:
        if not isinstance(judgements, list):
            raise _Bad("judgements", f"expected a list (one judgement per answer), got {_tname(judgements)}")
        if len(judgements) != k:
            raise _Bad("judgements", f"has {len(judgements)} entries but there are {k} answers (one per answer)")
        judgements = [_judgement(j, f"judgements[{i}]") for i, j in enumerate(judgements)]
    labeler = row.get("labeler")
    labeler = "unknown" if labeler is None else _text(labeler, "labeler")
    all_bad, meta = row.get("all_bad") or False, row.get("meta") or {}
    if not isinstance(all_bad, bool):
        raise _Bad("all_bad", f"expected true or false, got {_tname(all_bad)}")
    if not isinstance(meta, dict):
        raise _Bad("meta", f"expected an object, got {_tname(meta)}")
    for j in range(k):
        for i in range(j):
            if answers[i] == answers[j] and ranks[i] != ranks[j]:
                warn(f"answers[{j}]", f"same text as answers[{i}] but ranked {ranks[j]} vs {ranks[i]}: "
                                      "the pairs between them contradict each other")
    return Ranking(prompt, answers, ranks, labeler, judgements, all_bad, _id(row), meta)


# ---- public parsers: one raw row -> typed records ------------------------------------------

def _run(fn: Callable[[dict[str, Any], str, Warn], Any], row: Any, file: str, line: int | None,
         warnings: list[DataIssue] | None) -> Any:
    def warn(field: str | None, message: str) -> None:
        if warnings is not None:
            warnings.append(DataIssue(file, line, field, message))

    try:
        return fn(row, _format(row), warn)
    except _Bad as e:
        raise DataError(DataIssue(file, line, e.field, e.message)) from None


def _wrong(fmt: str, kind: str, readable: tuple[str, ...]) -> _Bad:
    return _Bad(None, f"a '{fmt}' row cannot be read as {kind} (formats that can: {', '.join(readable)})")


_DEMO_FORMATS = ("messages", "prompt_completion", "alpaca", "sharegpt", "ranking", "preference", "preference_implicit")


def _to_text(row: dict[str, Any], fmt: str, warn: Warn) -> str:
    if fmt != "text":
        raise _wrong(fmt, "text", ("text",))
    return _text(row["text"], "text")


def _to_demonstration(row: dict[str, Any], fmt: str, warn: Warn) -> Demonstration:
    if fmt == "ranking":  # the best-ranked answer; on a tie at the top, the first of them
        r = _ranking(row, warn)
        if r.all_bad:
            raise _Bad("all_bad", "every answer was marked bad: no answer to imitate")
        return Demonstration(r.prompt + [Message("assistant", r.answers[r.ranks.index(min(r.ranks))])], r.id)
    if fmt in ("preference", "preference_implicit"):
        p = _pair(row, fmt, warn)
        return Demonstration(p.prompt + [Message("assistant", p.chosen)], p.id)
    if fmt not in _DEMO_FORMATS:
        raise _wrong(fmt, "a demonstration", _DEMO_FORMATS)
    conv = _conversation(row, fmt)
    if conv[-1].role != "assistant":
        key, role_key = {"sharegpt": ("conversations", "from"), "prompt_completion": ("completion", "role")}.get(
            fmt, ("messages", "role"))
        raise _Bad(f"{key}[{len(row[key]) - 1}].{role_key}",
                   f"a demonstration must end with an 'assistant' turn, got '{conv[-1].role}'")
    if not any(m.is_target for m in conv):
        raise _Bad("messages", "every assistant turn has weight 0: nothing to train on")
    meta = row.get("meta")
    return Demonstration(conv, _id(row), meta if isinstance(meta, dict) else {})


def _to_prompt(row: dict[str, Any], fmt: str, warn: Warn) -> Conversation:
    if fmt in ("prompt_only", "prompt_completion"):
        return _prompt_completion(row)[0] if fmt == "prompt_completion" else _prompt(row["prompt"])
    if fmt in ("preference", "preference_implicit"):
        return _pair(row, fmt, warn).prompt
    if fmt == "ranking":
        return _ranking(row, warn).prompt
    if fmt not in ("messages", "sharegpt", "alpaca"):
        raise _wrong(fmt, "a prompt", ("prompt_only", "prompt_completion", "preference", "preference_implicit",
                                       "ranking", "messages", "sharegpt", "alpaca"))
    conv = _conversation(row, fmt)
    if conv[-1].role == "assistant":  # a finished dialogue: its prompt is everything before the last answer
        conv = conv[:-1]
    field, role_key = ("conversations", "from") if fmt == "sharegpt" else ("messages", "role")
    if not conv or _last_role(conv) != "user":
        raise _Bad(f"{field}[{len(conv) - 1}].{role_key}" if conv else field,
                   "a prompt must end with a 'user' turn (after dropping a final assistant answer)")
    return conv


def _to_pairs(row: dict[str, Any], fmt: str, warn: Warn) -> list[PreferencePair]:
    if fmt == "ranking":
        return _ranking(row, warn).to_pairs()
    if fmt not in ("preference", "preference_implicit"):
        raise _wrong(fmt, "preference pairs", ("preference", "preference_implicit", "ranking"))
    return [_pair(row, fmt, warn)]


def _to_ranking(row: dict[str, Any], fmt: str, warn: Warn) -> Ranking:
    if fmt == "ranking":
        return _ranking(row, warn)
    if fmt not in ("preference", "preference_implicit"):
        raise _wrong(fmt, "a ranking", ("ranking", "preference", "preference_implicit"))
    return ranking_from_pair(_pair(row, fmt, warn))


def row_to_text(row: dict[str, Any], file: str = "<row>", line: int | None = None,
                warnings: list[DataIssue] | None = None) -> str:
    """Pretraining text from a ``text`` row (other formats need a chat template, so they are refused)."""
    return _run(_to_text, row, file, line, warnings)


def row_to_demonstration(row: dict[str, Any], file: str = "<row>", line: int | None = None,
                         warnings: list[DataIssue] | None = None) -> Demonstration:
    """An SFT example from a conversational, prompt-completion, alpaca or sharegpt row, or the best
    answer of a ranking / the chosen answer of a preference row."""
    return _run(_to_demonstration, row, file, line, warnings)


def row_to_prompt(row: dict[str, Any], file: str = "<row>", line: int | None = None,
                  warnings: list[DataIssue] | None = None) -> Conversation:
    """A conversation ending with a user turn (PPO and evaluation prompts) from any row that has one."""
    return _run(_to_prompt, row, file, line, warnings)


def row_to_pairs(row: dict[str, Any], file: str = "<row>", line: int | None = None,
                 warnings: list[DataIssue] | None = None) -> list[PreferencePair]:
    """One pair from a preference row; every strictly ordered pair from a ranking (ties give none)."""
    return _run(_to_pairs, row, file, line, warnings)


def row_to_ranking(row: dict[str, Any], file: str = "<row>", line: int | None = None,
                   warnings: list[DataIssue] | None = None) -> Ranking:
    """A K-way ranking; a preference row is a K = 2 ranking."""
    return _run(_to_ranking, row, file, line, warnings)


def natural_kind(row: dict[str, Any]) -> str:
    """The kind a row is checked as when none is asked for (a conversation ending with the user
    is a prompt, otherwise a demonstration; an unrecognised row fails in any parser)."""
    try:
        fmt = _format(row)
    except _Bad:
        return "demonstration"
    if fmt in ("messages", "sharegpt"):
        turns = row.get("messages" if fmt == "messages" else "conversations")
        last = turns[-1] if isinstance(turns, list) and turns else None
        role = last.get("role" if fmt == "messages" else "from") if isinstance(last, dict) else None
        return "prompt" if role in ("user", "human") else "demonstration"
    return {"text": "text", "prompt_only": "prompt", "preference": "preference", "ranking": "ranking",
            "preference_implicit": "preference"}.get(fmt, "demonstration")
