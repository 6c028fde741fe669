"""ReAct (Yao et al., 2023): interleave Thought, Action and Observation until the model finishes.

    tools = {"search": store.search, "calculate": calculate}
    react.run(sampler, conversations, tools, max_steps=5)

Each assistant turn is one step, "Thought: ...\\nAction: tool[input]". The tool's output comes
back as the next user turn, "Observation: ...", and the model takes its next step. Using turns
rather than a stop string keeps the model's own end-of-turn token as the place it yields, with
any chat template and any engine. ``finish[answer]`` ends the episode; so does a turn with no
action (its text is the answer) or the step limit (``finish_reason`` "step_limit", no answer).
Conversations run as one batch per step, so evaluation pays one sampler call per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kaizen.prompting.answers import extract_answer
from kaizen.prompting.tools import parse_step
from kaizen.prompting.types import Sampler, Step, StrategyResult, as_conversation

Tool = Callable[[str], str]

SYSTEM = ("Solve the task in steps. Each step is a Thought and an Action. Actions: search[words] looks the words "
          "up in the documents, calculate[expression] does arithmetic, finish[answer] gives the final answer.")
OBSERVATION = "Observation: {}"
MAX_OBSERVATION_CHARS = 400


def start(conversation: Sequence[dict], system: str = SYSTEM) -> list[dict]:
    """The conversation with the ReAct instructions as (or before) its system message."""
    conv = as_conversation(conversation)
    if conv and conv[0]["role"] == "system":
        return [{"role": "system", "content": f"{system}\n{conv[0]['content']}"}] + conv[1:]
    return [{"role": "system", "content": system}] + conv


def run_tool(tools: Mapping[str, Tool], action: str, argument: str) -> str:
    if action not in tools:
        names = ", ".join(sorted(tools)) + (", " if tools else "") + "finish"
        return f"Error: unknown action '{action}'; use {names}."
    try:
        out = tools[action](argument)
    except Exception as e:  # a failing tool is an observation for the model, never a failed request
        out = f"Error: {e}"
    return out if len(out) <= MAX_OBSERVATION_CHARS else out[:MAX_OBSERVATION_CHARS] + " ..."


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], tools: Mapping[str, Tool], max_steps: int = 5,
        max_tokens: int = 96, system: str = SYSTEM, name: str = "react") -> list[StrategyResult]:
    """``max_steps``: most tool calls; the model gets one more turn after the last to finish."""
    states = [start(c, system) for c in conversations]
    results = [StrategyResult(name, "", "", finish_reason="step_limit") for _ in conversations]
    active = list(range(len(states)))
    for step in range(max_steps + 1):
        if not active:
            break
        outs = sampler.complete([states[i] for i in active], n=1, temperature=0.0, max_tokens=max_tokens)
        still = []
        for i, [c] in zip(active, outs):
            r = results[i]
            r.tokens += c.tokens
            r.calls += 1
            thought, action, argument = parse_step(c.text)
            if action == "finish" or not action:
                answer = argument if action == "finish" else extract_answer(c.text)
                r.steps.append(Step(thought, action, argument))
                r.text, r.answer, r.finish_reason = answer, answer, "stop"
                continue
            if step == max_steps:  # out of steps: the last action is not run
                r.steps.append(Step(thought, action, argument))
                continue
            observation = run_tool(tools, action, argument)
            r.steps.append(Step(thought, action, argument, observation))
            states[i] = states[i] + [{"role": "assistant", "content": c.text},
                                     {"role": "user", "content": OBSERVATION.format(observation)}]
            still.append(i)
        active = still
    for r in results:
        r.reasoning = r.transcript() or None
    return results
