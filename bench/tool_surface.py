"""The cost of the tool-surface checks per probe: `python -m bench.tool_surface [--out DIR]`.

Measures exporter.probers.tool_surface.measure() on tool lists of 3, 13 and 100 tools shaped like
the official SDK's generated schemas (a few typed properties, required names, descriptions), once
with every schema new (the first probe of a server, or a changed list) and once with the verdicts
cached (every later probe of an unchanged list). Writes results-tool-surface.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from exporter.probers import tool_surface


def tool(index: int) -> dict[str, Any]:
    """A tool like the SDK generates for `def tool_<i>(text: str, count: int = 1, ...)`."""
    return {
        "name": f"tool_{index}",
        "description": f"Tool number {index}: does one thing with its arguments.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "title": "Text", "description": "What to act on"},
                "count": {"type": "integer", "default": 1, "minimum": 0, "title": "Count"},
                "mode": {"enum": ["fast", "safe"], "type": "string", "title": "Mode"},
                "tags": {"type": "array", "items": {"type": "string"}, "title": "Tags"},
                "options": {
                    "anyOf": [
                        {"type": "object", "additionalProperties": {"type": "string"}},
                        {"type": "null"},
                    ],
                    "default": None,
                },
            },
            "required": ["text"],
            "title": f"tool_{index}Arguments",
        },
        "outputSchema": {
            "type": "object",
            "properties": {"result": {"type": "string", "title": "Result"}},
            "required": ["result"],
            "title": f"tool_{index}Output",
        },
    }


def seconds_per_call(tools: list[dict[str, Any]], cached: bool, rounds: int) -> tuple[float, int]:
    """Median seconds of one measure() call, and the schemas it left unchecked (budget)."""
    samples = []
    unchecked = 0
    for _ in range(rounds):
        if not cached:
            tool_surface.forget_verdicts()
        started = time.perf_counter()
        unchecked = tool_surface.measure(tools).schemas_unchecked
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), unchecked


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    results = []
    for size in (3, 13, 100):
        tools = [tool(i) for i in range(size)]
        while tool_surface.measure(tools).schemas_unchecked:
            pass  # validators built, every verdict kept: the steady state of later probes
        uncached, left = seconds_per_call(tools, False, args.rounds)
        cached, _ = seconds_per_call(tools, True, args.rounds)
        results.append(
            {
                "tools": size,
                "definition_bytes": len(tool_surface.canonical_json(tools)),
                "uncached_ms": round(uncached * 1000, 3),
                "uncached_unchecked_schemas": left,
                "cached_ms": round(cached * 1000, 3),
            }
        )
    (args.out / "results-tool-surface.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| tools | definition bytes | first probe (ms) | left for later probes "
        "| later probes (ms) |",
        "|---|---|---|---|---|",
        *(
            f"| {r['tools']} | {r['definition_bytes']} | {r['uncached_ms']} | "
            f"{r['uncached_unchecked_schemas']} | {r['cached_ms']} |"
            for r in results
        ),
    ]
    (args.out / "results-tool-surface.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
