"""Declared options: every --arch and --hp key a family reads, with its type, default, allowed values and help.

A family's declarations are the single source for its default arch and hparams, for `train FAMILY --help`, for
docs/training.md and for the checks that refuse a misspelt key or a value out of range before any training."""
from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field, replace

TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "str", list: "list", dict: "object"}


class OptionError(ValueError):
    """A --arch/--hp key a family does not read, or a value its declaration does not allow."""


@dataclass(frozen=True)
class Option:
    """One key of a run's arch or hparams.

    `default` is what the family uses when the key is not given: a value, or a function of (image_size, channels,
    num_classes) for keys that follow the data (then `default_text` says how). `recorded` keys are written into every
    new card (they make up default_arch() / default_hparams()); the others appear only when given, and the code reads
    them with .get(key, default). `low`/`high` bound numbers (inclusive unless `*_open`); `choices` lists the
    allowed strings; `items` is the type of a list's entries. `set_by` names the command-line flag that sets a key
    the run derives (--steps, --image-size ...), and `fixed` refuses the key as an override (use `set_by`)."""

    key: str
    type: type
    default: object = None
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    items: type | None = None
    length: int | None = None
    recorded: bool = True
    set_by: str | None = None
    fixed: bool = False
    default_text: str | None = None
    also_allowed: tuple = field(default=())  # values allowed beside the range, e.g. 0 meaning "off"

    def but(self, **changes) -> Option:
        """This option with a family's own default (or other changes)."""
        return replace(self, **changes)

    def default_for(self, image_size: int, channels: int, num_classes: int):
        value = self.default(image_size, channels, num_classes) if callable(self.default) else self.default
        return _copy(value)

    # --- what --help and the docs show ------------------------------------------------------------------------
    def type_text(self) -> str:
        name = TYPE_NAMES.get(self.type, self.type.__name__)
        if self.type is list and self.items is not None:
            name = f"list of {TYPE_NAMES.get(self.items, self.items.__name__)}"
        return name

    def default_shown(self) -> str:
        if self.default_text:
            return self.default_text
        if self.default is None:
            return "off" if not self.set_by else "-"
        return _json(self.default)

    def range_text(self) -> str:
        """The allowed values in words, e.g. '0 < x < 1', 'one of batch, layer', '>= 1'."""
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        elif self.type is bool:
            text = "true or false"
        elif self.low is not None and self.high is not None:
            text = f"{_num(self.low)} {'<' if self.low_open else '<='} x {'<' if self.high_open else '<='} {_num(self.high)}"
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {_num(self.low)}"
        elif self.high is not None:
            text = f"{'<' if self.high_open else '<='} {_num(self.high)}"
        elif self.type is list and self.length:
            text = f"{self.length} entries"
        elif self.type is list:
            text = "a list"
        else:
            text = "any"
        if self.type is list and self.items is not None and (self.low is not None or self.high is not None):
            text = f"entries {text}"
            if self.length:
                text = f"{self.length} {text}"
        if self.also_allowed:
            text += " (or " + ", ".join(_json(v) for v in self.also_allowed) + ")"
        return text

    # --- checks ------------------------------------------------------------------------------------------------
    def check(self, value, flag: str = "--hp") -> None:
        """OptionError naming the allowed values when `value` is not one of them."""
        if not isinstance(value, bool) and any(value == allowed for allowed in self.also_allowed):
            return
        if value is None and not self.recorded:
            return  # an optional key set to null means "not set"
        if not self._allowed(value):
            shown = value if isinstance(value, str) else _json(value)
            raise OptionError(f"{flag} {self.key} must be {self.describe()}, not {shown} ({self.help})")

    def describe(self) -> str:
        """The allowed values as a phrase: 'a number with 0 < x < 1 (or 0)', 'one of mlp, cnn'."""
        if self.choices or self.type is bool:
            return self.range_text()
        noun = {int: "a whole number", float: "a number", str: "a string", dict: "a JSON object"}.get(self.type, "a value")
        if self.type is list:
            count = f"{self.length} " if self.length else ""
            noun = f"a list of {count}{'whole numbers' if self.items is int else 'numbers' if self.items is float else 'strings' if self.items is str else 'values'}"
            bounds = self.range_text().removeprefix(f"{self.length} ").removeprefix("entries ") if (self.low is not None or self.high is not None) else ""
            return f"{noun} {bounds}".strip()
        bounds = self.range_text() if (self.low is not None or self.high is not None) else ""
        if bounds.startswith(("<", ">")):
            return f"{noun} {bounds}"
        return f"{noun} with {bounds}" if bounds else noun

    def _allowed(self, value) -> bool:
        if self.type is list:
            if not isinstance(value, list) or (self.length and len(value) != self.length):
                return False
            return all(self._scalar_ok(v, self.items) for v in value) if self.items else True
        return self._scalar_ok(value, self.type)

    def _scalar_ok(self, value, kind: type) -> bool:
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            return False
        if self.choices and value not in self.choices:
            return False
        if kind in (int, float):
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                return False
            if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
                return False
        return True


def check_options(family: str, arch_options: dict[str, Option], hp_options: dict[str, Option], arch: dict, hp: dict) -> None:
    """Refuse --arch/--hp keys the family does not read (a misspelt key would silently train the defaults), keys the
    run derives from a flag of its own, and values outside their declared range."""
    unknown = [f"--arch {k}" for k in arch if k not in arch_options] + [f"--hp {k}" for k in hp if k not in hp_options]
    if unknown:
        raise OptionError(f"{family} has no option {', '.join(unknown)} (its --arch keys: {', '.join(sorted(arch_options))}; "
                          f"its --hp keys: {', '.join(sorted(hp_options))})")
    for flag, declared, given in (("--arch", arch_options, arch), ("--hp", hp_options, hp)):
        for key, value in given.items():
            option = declared[key]
            if option.fixed:
                raise OptionError(f"give {option.key} with {option.set_by}, not {flag} {option.key}")
            option.check(value, flag)


def _copy(value):
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _json(value) -> str:
    return json.dumps(value)


# --- documentation: `train FAMILY --help` and docs/training.md ---------------------------------------------------
def options_text(arch_options: dict[str, Option], hp_options: dict[str, Option], width: int = 100) -> str:
    """The options as --help prints them: one line of key, type, default and range, then the help, wrapped."""
    lines = []
    for flag, declared in (("--arch", arch_options), ("--hp", hp_options)):
        lines.append(f"{flag} KEY=VALUE options:")
        for option in declared.values():
            set_by = f"; set by {option.set_by}" if option.set_by else ""
            lines.append(f"  {option.key}  ({option.type_text()}; default {option.default_shown()}; {option.range_text()}{set_by})")
            lines += textwrap.wrap(option.help, width, initial_indent="      ", subsequent_indent="      ")
        lines.append("")
    return "\n".join(lines)


def options_markdown(arch_options: dict[str, Option], hp_options: dict[str, Option]) -> str:
    """The options as two Markdown tables (docs/training.md)."""
    out = []
    for flag, declared in (("--arch", arch_options), ("--hp", hp_options)):
        out += [f"| `{flag}` key | type | default | allowed | what it does |", "|---|---|---|---|---|"]
        for option in declared.values():
            set_by = f" Set by `{option.set_by}`." if option.set_by else ""
            help_text = (option.help[0].upper() + option.help[1:] + "." + set_by).replace("|", "\\|")
            out.append(f"| `{option.key}` | {option.type_text()} | `{option.default_shown()}` | "
                       f"{option.range_text().replace('|', '/')} | {help_text} |")
        out.append("")
    return "\n".join(out)

