"""A deterministic LiteLLM custom provider for MCP probes: it never reaches a model provider.

Loaded by the LiteLLM proxy through `litellm_settings.custom_provider_map` (the file is copied next
to the generated config). Turn 1: the last user message is `call <tool> <json-arguments>`; the
provider answers with one tool call of that tool (the name as the model sees it, `<server>-<tool>`).
Turn 2 (a tool result is present): it answers with the tool output text, unchanged, so the
caller can check that a per-probe nonce made the round trip. A user message `fail` makes the
provider raise on turn 1; the prefix `fail-after ` (`fail-after call <tool> <json>`) makes it call
the tool and raise on turn 2 (model failing before/after the MCP call).
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


class ProbeProvider(CustomLLM):
    """First turn: call the tool named in the prompt; second turn: echo the tool result."""

    def _answer(self, model: str, messages: list[dict[str, Any]]) -> ModelResponse:
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
            call = ChatCompletionMessageToolCall(
                id=f"call_{uuid.uuid4().hex[:12]}",
                type="function",
                function=Function(name=name, arguments=arguments.strip() or "{}"),
            )
            message = Message(role="assistant", content=None, tool_calls=[call])
            finish = "tool_calls"
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
        return self._answer(model, messages)

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:  # type: ignore[override]
        return self._answer(model, messages)


handler = ProbeProvider()
