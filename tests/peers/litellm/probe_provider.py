"""A deterministic LiteLLM custom provider for MCP probes: it never reaches a model provider.

Loaded by the LiteLLM proxy through `litellm_settings.custom_provider_map` (the file is copied next
to the generated config). Turn 1: the last user message is `call <tool> <json-arguments>`; the
provider answers with one tool call of that tool (the name as the model sees it, `<server>-<tool>`).
Turn 2 (a tool result is present): it answers with the tool output text, unchanged, so the
caller can check that a per-probe nonce made the round trip. A user message `fail` makes the
provider raise on turn 1; the prefix `fail-after ` (`fail-after call <tool> <json>`) makes it call
the tool and raise on turn 2 (model failing before/after the MCP call).

Like a real model, it calls only a tool it was offered: when LiteLLM offers no tool of that name
(the MCP server listed nothing, e.g. because it is down), turn 1 answers with a plain message.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    Function,
    Message,
    ModelResponse,
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _offered(optional_params: dict[str, Any]) -> set[str]:
    """The names of the function tools LiteLLM offered the model on this turn."""
    tools = optional_params.get("tools")
    names: set[str] = set()
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


class ProbeProvider(CustomLLM):
    """First turn: call the tool named in the prompt; second turn: echo the tool result."""

    def _answer(
        self, model: str, messages: list[dict[str, Any]], optional_params: dict[str, Any]
    ) -> ModelResponse:
        prompt = next(
            (_text(m.get("content")) for m in messages if m.get("role") == "user"), ""
        ).strip()
        fail_after = prompt.startswith("fail-after ")
        prompt = prompt.removeprefix("fail-after ").strip()
        tool_results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
        if tool_results:
            if fail_after:
                raise RuntimeError("probe provider: deliberate failure after the tool call")
            message = Message(role="assistant", content=tool_results[-1])
            finish = "stop"
        else:
            if prompt == "fail":
                raise RuntimeError("probe provider: deliberate failure before the tool call")
            _, _, rest = prompt.partition("call ")
            name, _, arguments = rest.partition(" ")
            if name in _offered(optional_params):
                call = ChatCompletionMessageToolCall(
                    id=f"call_{uuid.uuid4().hex[:12]}",
                    type="function",
                    function=Function(name=name, arguments=arguments.strip() or "{}"),
                )
                message = Message(role="assistant", content=None, tool_calls=[call])
                finish = "tool_calls"
            else:
                message = Message(role="assistant", content=f"I have no tool named {name}.")
                finish = "stop"
        return ModelResponse(
            id=f"chatcmpl-probe-{uuid.uuid4().hex[:12]}",
            created=int(time.time()),
            model=model,
            object="chat.completion",
            choices=[Choices(index=0, finish_reason=finish, message=message)],
        )

    def completion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:  # type: ignore[override]
        return self._answer(model, messages, kwargs.get("optional_params") or {})

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:  # type: ignore[override]
        return self._answer(model, messages, kwargs.get("optional_params") or {})


handler = ProbeProvider()
