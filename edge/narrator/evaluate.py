"""``edgecoach eval advice FILE.jsonl``: the tuned and the base language model, side by side.

A scenario file holds one JSON object per line (blank lines and lines starting with ``#`` are
skipped)::

    {"id": "easy-run-z5-172",
     "kind": "cue",
     "facts": {"hr": 172, "zone": 5, "previous_zone": 4, "zone_low": 170, "zone_high": 185,
               "zone5_lower": 170, "session": "easy"},
     "cue": {"kind": "high_zone", "action": "ease_off"},
     "must": ["ease|slow"], "must_not": ["diagnos", "push"],
     "action": "ease_off"}

- ``id``: a unique name; ``kind``: ``cue``, ``question``, ``summary``, ``readiness`` or ``plan``;
- ``facts``: the facts the coach's rules would hand the narrator (numbers and short words);
- ``cue`` (cues only): ``kind`` a cue kind (``zone_change``, ``high_zone``,
  ``forecast_overshoot``, ``above_max_hr``, ``implausible_reading``, ``sensor_lost``,
  ``sensor_back``) and optionally ``action`` (default: the coach's rule for that kind);
- ``question`` (questions only): the question asked, and optionally ``intent`` (default: the
  keyword rules of `edge.narrator.advice.classify_question`);
- ``must`` / ``must_not``: regular expressions (case-insensitive) the words must / must not match;
- ``action``: the action the words must ask for (default: the advice's own; ``info`` for none).

For each model every scenario goes through the real narrator (prompt, guard, one retry, template
fallback, time limit) and these are reported, for the model's first attempt unless noted:

- action agreement: the words ask for the expected action and nothing against it;
- guard pass rate: the first attempt passes the runtime guard;
- fact errors: words with a number that is not among the facts (share, and the total count);
- must / must_not pass rate, of the first attempt and of what would be spoken;
- model share: how often the model's words (not the template's) would be spoken;
- latency: seconds in the narrator per scenario (p50, p95) and to the first spoken sentence.

Scenarios with fixed words (safety cues, safety and no-data answers) are never given to a model;
they are listed and checked against must/must_not but left out of the model figures.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.core.cues import Action
from edge.errors import ConfigError
from edge.narrator import guard, prompts
from edge.narrator.advice import Advice, Task, advice_for
from edge.narrator.llm import Generation
from edge.narrator.narrator import Narrator, NarratorSettings

log = logging.getLogger(__name__)

TASKS = tuple(t.value for t in Task)


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    kind: str
    facts: dict[str, Any]
    cue: dict[str, Any] | None = None
    question: str = ""
    intent: str = ""
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    action: str | None = None
    note: str = ""

    def advice(self) -> Advice:
        kind = self.cue["kind"] if self.cue else self.intent
        action = self.cue.get("action") if self.cue else None
        return advice_for(self.kind, self.facts, kind=kind, action=action, question=self.question)

    def expected_action(self, advice: Advice) -> Action | None:
        if self.action is None:
            return advice.action
        return None if self.action in ("info", "none") else Action(self.action)


def parse_scenario(data: Any, where: str = "scenario") -> Scenario:
    """A scenario from its JSON object; ConfigError says what is wrong and where."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a scenario is a JSON object")
    known = {
        "id",
        "kind",
        "facts",
        "cue",
        "question",
        "intent",
        "must",
        "must_not",
        "action",
        "note",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(known))}"
        )
    for name in ("id", "kind"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ConfigError(f"{where}: {name!r} must be a non-empty string")
    if data["kind"] not in TASKS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(TASKS)}, got {data['kind']!r}")
    facts = data.get("facts", {})
    if not isinstance(facts, dict) or not all(
        isinstance(v, int | float | str) and not isinstance(v, bool) for v in facts.values()
    ):
        raise ConfigError(f"{where}: facts must be an object of numbers and strings")
    cue = data.get("cue")
    if data["kind"] == "cue" and (not isinstance(cue, dict) or "kind" not in cue):
        raise ConfigError(f'{where}: a cue scenario needs "cue": {{"kind": ...}}')
    if data["kind"] == "question" and not isinstance(data.get("question"), str):
        raise ConfigError(f'{where}: a question scenario needs "question": "..."')
    patterns = {}
    for name in ("must", "must_not"):
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise ConfigError(f"{where}: {name} must be a list of regular expressions")
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{where}: {name} pattern {pattern!r}: {exc}") from None
        patterns[name] = tuple(value)
    scenario = Scenario(
        id=data["id"],
        kind=data["kind"],
        facts=dict(facts),
        cue=cue,
        question=data.get("question", ""),
        intent=data.get("intent", ""),
        must=patterns["must"],
        must_not=patterns["must_not"],
        action=data.get("action"),
        note=data.get("note", ""),
    )
    try:
        advice = scenario.advice()
        scenario.expected_action(advice)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"{where}: the facts do not make a {data['kind']} the coach knows "
            f"({type(exc).__name__}: {exc})"
        ) from None
    return scenario


def load_scenarios(path: Path) -> list[Scenario]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file {path}: {exc}") from None
    scenarios: list[Scenario] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        scenarios.append(parse_scenario(data, where))
    ids = [s.id for s in scenarios]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"{path}: repeated scenario id(s) {', '.join(repeated)}")
    if not scenarios:
        raise ConfigError(f"{path} holds no scenarios")
    return scenarios


class _Recorder:
    """An engine that remembers what it generated, so the first attempt can be scored."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.prompt_style = getattr(engine, "prompt_style", prompts.REPHRASE)
        self.generations: list[Generation] = []

    def generate(self, *args: Any, **kwargs: Any) -> Generation:
        generation = self.engine.generate(*args, **kwargs)
        self.generations.append(generation)
        return generation


@dataclass
class ModelReport:
    name: str
    path: str
    prompt_style: str
    results: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        worded = [r for r in self.results if not r["fixed"]]
        n = len(worded)

        def rate(key: str) -> float | None:
            return round(sum(1 for r in worded if r[key]) / n, 4) if n else None

        seconds = [r["seconds"] for r in worded]
        first = [r["first_words_s"] for r in worded if r["first_words_s"] is not None]
        tokens = sum(r["tokens"] for r in worded)
        decode_s = sum(r["decode_s"] for r in worded)
        return {
            "model": self.name,
            "path": self.path,
            "prompt_style": self.prompt_style,
            "scenarios": len(self.results),
            "model_worded": n,
            "action_agreement": rate("action_ok"),
            "guard_pass_rate": rate("guard_ok"),
            "fact_error_rate": round(sum(1 for r in worded if r["fact_errors"]) / n, 4)
            if n
            else None,
            "fact_errors": sum(len(r["fact_errors"]) for r in worded),
            "must_pass_rate": rate("must_ok"),
            "must_pass_spoken": round(
                sum(1 for r in self.results if r["must_ok_spoken"]) / len(self.results), 4
            )
            if self.results
            else None,
            "model_share": rate("spoken_by_model"),
            "latency_p50_s": _percentile(seconds, 50),
            "latency_p95_s": _percentile(seconds, 95),
            "first_words_p50_s": _percentile(first, 50),
            "decode_tokens_per_s": round(tokens / decode_s, 1) if decode_s > 0 else None,
        }


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


def _matches(patterns: Iterable[str], text: str) -> bool:
    return all(re.search(p, text, re.IGNORECASE) for p in patterns)


def _misses(patterns: Iterable[str], text: str) -> bool:
    return not any(re.search(p, text, re.IGNORECASE) for p in patterns)


def evaluate_one(
    narrator: Narrator, recorder: _Recorder | None, scenario: Scenario
) -> dict[str, Any]:
    advice = scenario.advice()
    expected = scenario.expected_action(advice)
    if recorder is not None:
        recorder.generations.clear()
    spoken_first: list[float] = []
    started = time.perf_counter()
    narration = narrator.narrate_sync(
        advice,
        on_sentence=lambda _s: (
            spoken_first.append(time.perf_counter() - started) if not spoken_first else None
        ),
    )
    first = recorder.generations[0] if recorder is not None and recorder.generations else None
    fixed = advice.deterministic or first is None
    text = prompts.clean_reply(first.text) if first is not None else narration.text
    verdict = guard.check_advice(text, advice)
    must_ok = _matches(scenario.must, text) and _misses(scenario.must_not, text)
    return {
        "id": scenario.id,
        "kind": scenario.kind,
        "advice": advice.kind,
        "expected_action": None if expected is None else expected.value,
        "fixed": fixed,
        "text": text,
        "spoken": narration.text,
        "source": narration.source,
        "reason": narration.reason,
        "attempts": narration.attempts,
        "guard_ok": verdict.ok,
        "guard_reason": verdict.reason,
        "action_ok": guard.action_agrees(text, expected),
        "fact_errors": guard.unknown_numbers(text, advice.facts),
        "must_ok": must_ok,
        "must_ok_spoken": _matches(scenario.must, narration.text)
        and _misses(scenario.must_not, narration.text),
        "spoken_by_model": narration.source == "llm",
        "seconds": round(narration.seconds, 3),
        "first_words_s": round(spoken_first[0], 3) if spoken_first else None,
        "tokens": first.tokens if first is not None else 0,
        "decode_s": max(0.0, first.total_s - (first.first_token_s or 0.0))
        if first is not None and first.tokens > 1
        else 0.0,
    }


def evaluate(
    engine: Any,
    scenarios: Sequence[Scenario],
    *,
    name: str,
    settings: NarratorSettings | None = None,
    progress: bool = False,
) -> ModelReport:
    """Every scenario through a narrator on `engine` (None: templates only)."""
    settings = settings or NarratorSettings(timeout_s=10.0)
    recorder = _Recorder(engine) if engine is not None else None
    narrator = Narrator(recorder, settings, "no model")  # type: ignore[arg-type]
    report = ModelReport(
        name, str(getattr(engine, "path", "")), getattr(engine, "prompt_style", "none")
    )
    items: Iterable[Scenario] = scenarios
    if progress:
        from tqdm import tqdm

        items = tqdm(scenarios, desc=f"advice ({name})", unit="scenario", leave=False)
    try:
        for scenario in items:
            report.results.append(evaluate_one(narrator, recorder, scenario))
    finally:
        narrator.shutdown()  # the engine is the caller's to close
    return report


def compare(
    scenarios: Sequence[Scenario],
    engines: dict[str, Any],
    *,
    settings: NarratorSettings | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The report of every engine on the same scenarios: {"models": {...}, "scenarios": [...]}."""
    reports = {
        name: evaluate(engine, scenarios, name=name, settings=settings, progress=progress)
        for name, engine in engines.items()
    }
    rows = []
    for index, scenario in enumerate(scenarios):
        row: dict[str, Any] = {"id": scenario.id, "kind": scenario.kind}
        for name, report in reports.items():
            r = report.results[index]
            row[name] = {
                k: r[k]
                for k in (
                    "text",
                    "spoken",
                    "source",
                    "guard_ok",
                    "guard_reason",
                    "action_ok",
                    "fact_errors",
                    "must_ok",
                    "seconds",
                    "fixed",
                )
            }
        rows.append(row)
    return {"models": {name: r.summary() for name, r in reports.items()}, "scenarios": rows}


_ROWS = (
    ("action agreement", "action_agreement", "%"),
    ("guard pass rate", "guard_pass_rate", "%"),
    ("fact error rate", "fact_error_rate", "%"),
    ("must/must_not pass", "must_pass_rate", "%"),
    ("must pass (spoken)", "must_pass_spoken", "%"),
    ("spoken by the model", "model_share", "%"),
    ("latency p50 (s)", "latency_p50_s", ""),
    ("latency p95 (s)", "latency_p95_s", ""),
    ("first words p50 (s)", "first_words_p50_s", ""),
    ("decode tokens/s", "decode_tokens_per_s", ""),
)


def format_table(report: dict[str, Any]) -> str:
    names = list(report["models"])
    lines = [f"{'':24}" + "".join(f"{n:>14}" for n in names)]
    first = report["models"][names[0]]
    lines.append(
        f"{'scenarios (model-worded)':24}"
        + "".join(
            f"{report['models'][n]['scenarios']:>9} ({report['models'][n]['model_worded']:>2})"
            for n in names
        )
    )
    for label, key, unit in _ROWS:
        cells = []
        for n in names:
            value = report["models"][n].get(key)
            cells.append(
                f"{'-':>14}"
                if value is None
                else f"{value * 100:>13.1f}%"
                if unit == "%"
                else f"{value:>14}"
            )
        lines.append(f"{label:24}" + "".join(cells))
    del first
    return "\n".join(lines)
