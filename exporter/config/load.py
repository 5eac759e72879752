"""Loading the configuration: YAML to the validated schema, problems as one line each with the
dotted location, the runtime view the probers receive (SSL contexts and policies built once per
load), and masking of every secret for /config and debug output."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from ..client_assertion import load_signing_key
from ..net.proxy import ProxySettings
from ..policy import PolicyChain
from ..redact import is_sensitive_header
from ..tokens import TokenCache
from .blocks import (
    TLSConfig,
)
from .schema import (
    PROBER_BLOCKS,
    Config,
    MCPModule,
    Module,
    ModuleBase,
)
from .types import (
    Secret,
    size_problem,
)

M = TypeVar("M", bound=ModuleBase)


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class RuntimeModule:
    """A module ready for probing: its config plus what is built once per load."""

    name: str
    config: Module
    ssl_context: ssl.SSLContext
    policy: PolicyChain
    proxy: ProxySettings | None = None
    # OAuth client-credentials tokens per target; a config load starts a fresh cache.
    tokens: TokenCache = field(default_factory=TokenCache, compare=False, repr=False)
    # Every Secret of the module, found once per load: probes scrub their values from all
    # output, and walking the config on every probe was a measurable share of its CPU.
    secrets: tuple[Secret, ...] = field(default=(), compare=False, repr=False)

    def config_as(self, kind: type[M]) -> M:
        """The module's config as the model its prober expects: each prober runs only the
        modules of its kind (the prober table is keyed by the config), so a mismatch is a bug."""
        if not isinstance(self.config, kind):
            expected = kind.__name__
            raise TypeError(f"module {self.name} is a {self.config.prober} module, not {expected}")
        return self.config


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """The loaded configuration the rest of the program receives."""

    source: str
    config: Config
    modules: Mapping[str, RuntimeModule]
    # The TLS context of each service-discovery source, by name.
    sd_ssl_contexts: Mapping[str, ssl.SSLContext] = field(default_factory=dict)


_ONE_OF: Final = ", ".join(list(PROBER_BLOCKS)[:-1]) + " or " + list(PROBER_BLOCKS)[-1]
_BRANCH_NAMES: Final = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BRANCH_NAMES or "[" in part or part.startswith("constrained-"):
            # pydantic's union branch names are noise for a reader of the YAML file.
            continue
        else:
            if not part.isprintable() or any(c in part for c in " .:"):
                part = repr(part)  # keeps a problem on one line and its location unambiguous
            out += f".{part}" if out else part
    return out or "(top level)"


def _problem(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        # The module's `prober` picks its model; the problem is at that key.
        loc += ("prober",)
    elif loc[:1] == ("modules",) and len(loc) > 2 and loc[2] in PROBER_BLOCKS:
        loc = loc[:2] + loc[3:]  # the union's tag: the module's own keys follow
    where = _location(loc)
    if kind == "union_tag_not_found":
        return f"{where}: required key is missing"
    if kind == "union_tag_invalid":
        return f"{where}: {str(error.get('ctx', {}).get('tag'))[:60]!r} is not one of {_ONE_OF}"
    if kind in ("byte_size", "byte_size_unit"):
        return f"{where}: {size_problem(error.get('input'))}"
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"{where}: {str(error.get('input'))[:60]!r} is not one of {expected}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


# Values that aliases may add to a document: YAML aliases share what they name, but validation
# and every dump of the config walk each use, so nested aliases ("billion laughs") would make a
# few hundred bytes cost hours and gigabytes. Values written out in the file are not counted.
MAX_ALIASED_VALUES: Final = 100_000
ALIASING_PROBLEM: Final = f"invalid YAML: aliases expand to more than {MAX_ALIASED_VALUES} values"


def excessive_aliasing(data: object) -> bool:
    """Whether the aliases in loaded YAML repeat more than MAX_ALIASED_VALUES values."""
    seen: set[int] = set()
    aliased = 0
    stack: list[tuple[object, bool]] = [(data, False)]
    while stack:
        item, repeated = stack.pop()
        if repeated:
            aliased += 1
            if aliased > MAX_ALIASED_VALUES:
                return True
        if isinstance(item, dict | list):
            repeated = repeated or id(item) in seen
            seen.add(id(item))
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, repeated) for child in children)
    return False


def parse(text: str, source: str) -> RuntimeConfig:
    """Parse and validate YAML text; raise ConfigError with one line per problem."""
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(source, ["invalid YAML: nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, [f"{where}invalid YAML: {problem}"]) from None
    if excessive_aliasing(raw):
        raise ConfigError(source, [ALIASING_PROBLEM])
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): expected a mapping with a 'modules' key"])
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        seen: list[str] = []
        for error in exc.errors():
            line = _problem(error)
            if line not in seen:
                seen.append(line)
        raise ConfigError(source, seen) from None
    problems: list[str] = []
    modules: dict[str, RuntimeModule] = {}
    contexts: dict[tuple[TLSConfig, str], ssl.SSLContext] = {}
    for name, module in config.modules.items():
        secret_problems = [
            f"{where}: {problem}"
            for where, secret in _secrets(module, f"modules.{name}")
            if (problem := secret.check()) is not None
        ]
        problems += secret_problems
        if not secret_problems:
            problems += _signing_key_problems(module, f"modules.{name}")
        try:
            # Modules with the same TLS settings share one context: building one costs ~40 ms.
            # The HTTP version is part of the key: the context carries the ALPN offer.
            key = (module.tls_config, module.http_client.http_version)
            context = contexts.get(key) or module.tls_config.build()
            contexts[key] = context
        except (OSError, ssl.SSLError, ValueError) as exc:  # ValueError: a NUL in a file name
            problems.append(
                f"modules.{name}.{module.block}.tls_config: cannot load certificates: {exc}"
            )
            continue
        policies = [config.target_policy.build()]
        if module.target_policy is not None:
            policies.append(module.target_policy.build())
        try:
            proxy = module.http_client.proxy_settings()
        except (OSError, KeyError) as exc:
            problems.append(f"modules.{name}.{module.block}.http_client: {str(exc).strip(chr(39))}")
            continue
        modules[name] = RuntimeModule(
            name,
            module,
            context,
            PolicyChain(tuple(policies)),
            proxy=proxy,
            secrets=tuple(secret for _where, secret in _secrets(module, "")),
        )
    sd_contexts: dict[str, ssl.SSLContext] = {}
    for name, sd_source in config.service_discovery.litellm.items():
        where = f"service_discovery.litellm.{name}"
        problems += [
            f"{at}: {problem}"
            for at, secret in _secrets(sd_source, where)
            if (problem := secret.check()) is not None
        ]
        try:
            sd_key = (sd_source.tls_config, "1.1")
            sd_contexts[name] = contexts.get(sd_key) or sd_source.tls_config.build()
        except (OSError, ssl.SSLError, ValueError) as exc:
            problems.append(f"{where}.tls_config: cannot load certificates: {exc}")
    if problems:
        raise ConfigError(source, problems)
    return RuntimeConfig(source, config, modules, sd_contexts)


def _signing_key_problems(module: Module, where: str) -> list[str]:
    """A private_key_jwt key that cannot sign is an operator's mistake: say so at load, not at
    the first probe. (The file is read again for every token request, so a rotated key works.)"""
    if not isinstance(module, MCPModule):
        return []
    mcp = module.mcp
    places = [(f"{where}.mcp.oauth2", mcp.oauth2)]
    if mcp.litellm is not None and mcp.litellm.direct_probe is not None:
        places.append((f"{where}.mcp.litellm.direct_probe.oauth2", mcp.litellm.direct_probe.oauth2))
    problems = []
    for at, oauth2 in places:
        if oauth2 is None or oauth2.private_key is None:
            continue
        try:
            load_signing_key(oauth2.private_key.reveal(), oauth2.signing_algorithm)
        except ValueError as exc:
            problems.append(f"{at}.private_key: {exc}")
    return problems


def _secrets(model: Any, where: str) -> Iterator[tuple[str, Secret]]:
    """Every Secret in a config model, with its dotted location."""
    if isinstance(model, Secret):
        yield where, model
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from _secrets(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from _secrets(value, f"{where}.{key}")
    elif isinstance(model, list | tuple):
        for index, value in enumerate(model):
            yield from _secrets(value, f"{where}[{index}]")


def load(path: Path | None) -> RuntimeConfig:
    """Load a config file, or the built-in default config when `path` is None."""
    if path is None:
        text = resources.files("exporter").joinpath("default.yml").read_text(encoding="utf-8")
        return parse(text, "<built-in default>")
    return parse(read_text(path), str(path))


# Far beyond any real configuration; a device such as /dev/zero would otherwise be read until
# memory runs out, and a file of hundreds of MiB takes minutes to parse.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024


def read_text(path: Path) -> str:
    """A config file's text; ConfigError when it cannot be read, is too large or is not
    UTF-8."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(str(path), [f"larger than {MAX_FILE_BYTES >> 20} MiB"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text (byte {exc.start})"]) from None


def masked_dump(config: Config) -> str:
    """The config as YAML with every secret masked, for /config and debug output."""
    return yaml.safe_dump(_mask(config.model_dump(mode="python"), config), sort_keys=False)


def module_yaml(module: Module) -> str:
    """One module as YAML with secrets masked."""
    return yaml.safe_dump(_mask(module.model_dump(mode="python"), module), sort_keys=False)


def _mask(data: Any, model: Any) -> Any:
    if isinstance(model, Secret):
        return model.masked()
    if isinstance(model, BaseModel) and isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            child = getattr(model, key, None)
            out[key] = _mask(value, child)
        return out
    if isinstance(model, dict) and isinstance(data, dict):
        out = {}
        for key, value in data.items():
            child = model.get(key)
            # Inline values of ordinary headers (x-mcp-servers, ...) help a reader; values of
            # credential-like headers and anything from a file or env are masked.
            if (
                isinstance(child, Secret)
                and child.value is not None
                and not (is_sensitive_header(str(key)))
            ):
                out[key] = child.value
            else:
                out[key] = _mask(value, child)
        return out
    if isinstance(model, list) and isinstance(data, list):
        return [_mask(v, m) for v, m in zip(data, model, strict=False)]
    if isinstance(data, Path):
        return str(data)
    return data


def hidden_secret_values(model: Any) -> list[str]:
    """The current values of the Secrets read from files or the environment (inline values of
    ordinary headers are shown in /config, so they are not hidden)."""
    found: list[str] = []
    for _where, secret in _secrets(model, ""):
        if secret.value is None:
            with contextlib.suppress(OSError, KeyError):
                found.append(secret.reveal())
    return found


def secret_values(model: Any) -> list[str]:
    """The current values of every Secret in a config model (for scrubbing probe output)."""
    found: list[str] = []
    for _where, secret in _secrets(model, ""):
        # An unreadable secret cannot have been sent, so there is nothing to scrub.
        with contextlib.suppress(OSError, KeyError):
            found.append(secret.reveal())
    return found
