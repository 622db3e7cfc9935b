"""A llama.cpp grammar (GBNF) for the shape of a spoken cue: plain sentences, numbers from facts.

Constrained decoding makes two of the guard's rules hold by construction: the model cannot write
a digit that does not spell one of the facts, nor markup, lists or line breaks. The guard still
checks everything (action words, key facts, claims). It costs decode speed, because llama.cpp
checks candidate tokens against the grammar at every step: `bench/llm_throughput.py --grammar`
measures how much, and `NarratorSettings.grammar` turns it on.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.narrator.prompts import format_value

WORD = "[A-Za-z]+ ([-'] [A-Za-z]+)*"
SEPARATORS = ('" "', '", "', '": "', '"; "', '" - "')
ENDS = ('"."', '"!"', '"?"')


def fact_numbers(facts: Mapping[str, object]) -> list[str]:
    """The facts' numbers as the prompt writes them, longest first, without repeats."""
    found = {
        format_value(v)
        for v in facts.values()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return sorted(found, key=lambda n: (-len(n), n))


def sentence_grammar(
    facts: Mapping[str, object], *, max_sentences: int = 2, max_items: int = 28
) -> str:
    """GBNF for 1..`max_sentences` sentences of at most `max_items` words or fact numbers."""
    if max_sentences < 1 or max_items < 1:
        raise ValueError("a grammar needs at least one sentence of one word")
    numbers = fact_numbers(facts)
    lines = [
        f'root ::= sentence (" " sentence){{0,{max_sentences - 1}}}',
        f"sentence ::= item (sep item){{0,{max_items - 1}}} end",
        "item ::= word" + (" | num" if numbers else ""),
        f"word ::= {WORD}",
    ]
    if numbers:
        lines.append("num ::= " + " | ".join(f'"{n}"' for n in numbers))
    lines.append("sep ::= " + " | ".join(SEPARATORS))
    lines.append("end ::= " + " | ".join(ENDS))
    return "\n".join(lines) + "\n"
