"""The WWW-Authenticate parser: table of real and hostile header values, and properties."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.probers.www_authenticate import (
    MAX_CHALLENGES,
    MAX_PARAMS,
    MAX_VALUE_CHARS,
    Challenge,
    bearer_challenge,
    format_challenge,
    parse_www_authenticate,
)

PRM = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

# (header values, expected [(scheme, params, token68)])
CASES: list[tuple[str, list[str], list[tuple[str, dict[str, str], str | None]]]] = [
    (
        "mcp sdk 401",
        [
            'Bearer error="invalid_token", error_description="Authentication required", '
            f'resource_metadata="{PRM}"'
        ],
        [
            (
                "bearer",
                {
                    "error": "invalid_token",
                    "error_description": "Authentication required",
                    "resource_metadata": PRM,
                },
                None,
            )
        ],
    ),
    (
        "mcp spec insufficient_scope",
        [
            'Bearer error="insufficient_scope", scope="files:read files:write", '
            f'resource_metadata="{PRM}", error_description="Additional file write permission"'
        ],
        [
            (
                "bearer",
                {
                    "error": "insufficient_scope",
                    "scope": "files:read files:write",
                    "resource_metadata": PRM,
                    "error_description": "Additional file write permission",
                },
                None,
            )
        ],
    ),
    ("bare scheme", ["Bearer"], [("bearer", {}, None)]),
    ("lower-case scheme", ['bearer realm="x"'], [("bearer", {"realm": "x"}, None)]),
    (
        "upper-case names",
        ['BEARER REALM="x", Scope="a b"'],
        [("bearer", {"realm": "x", "scope": "a b"}, None)],
    ),
    (
        "rfc 9110 example: two challenges, escapes, unquoted token",
        ['Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'],
        [
            ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
            ("basic", {"realm": "simple"}, None),
        ],
    ),
    (
        "several header lines",
        ['Basic realm="a"', f'Bearer resource_metadata="{PRM}"'],
        [("basic", {"realm": "a"}, None), ("bearer", {"resource_metadata": PRM}, None)],
    ),
    (
        "token68 then params challenge",
        ['Negotiate YIIB/w+abc==, Bearer realm="r"'],
        [("negotiate", {}, "YIIB/w+abc=="), ("bearer", {"realm": "r"}, None)],
    ),
    ("token68 alone", ["Basic dXNlcjpwYXNz"], [("basic", {}, "dXNlcjpwYXNz")]),
    (
        "odd spacing and empty elements",
        ['  Bearer   ,  realm = "x" ,,  scope=  "a"  ,  Basic  '],
        [("bearer", {"realm": "x", "scope": "a"}, None), ("basic", {}, None)],
    ),
    ("tabs", ['Bearer\trealm="x",\terror="e"'], [("bearer", {"realm": "x", "error": "e"}, None)]),
    (
        "unquoted values",
        ["Bearer error=invalid_token, scope=mcp"],
        [("bearer", {"error": "invalid_token", "scope": "mcp"}, None)],
    ),
    (
        "comma inside quotes",
        ['Bearer realm="a, b=c", error="x"'],
        [("bearer", {"realm": "a, b=c", "error": "x"}, None)],
    ),
    ("escaped backslash", ['Bearer realm="a\\\\b"'], [("bearer", {"realm": "a\\b"}, None)]),
    (
        "duplicate param: first wins",
        ['Bearer scope="a", scope="b"'],
        [("bearer", {"scope": "a"}, None)],
    ),
    (
        "missing comma between params",
        ['Bearer realm="x" error="y"'],
        [("bearer", {"realm": "x", "error": "y"}, None)],
    ),
    (
        "unterminated quote",
        ['Bearer realm="abc, error="x'],
        [("bearer", {"realm": "abc, error="}, None)],
    ),
    (
        "garbage after value is skipped",
        ['Bearer realm="x"junk, error="y"'],
        [("bearer", {"realm": "x", "error": "y"}, None)],
    ),
    (
        "params before any scheme are ignored",
        ['realm="x", Bearer error="y"'],
        [("bearer", {"error": "y"}, None)],
    ),
    ("name= alone is a token68", ["Bearer realm="], [("bearer", {}, "realm=")]),
    ("empty quoted value", ['Bearer realm=""'], [("bearer", {"realm": ""}, None)]),
    # By the grammar "realm=" before a comma is a token68; the orphan parameter is dropped.
    ("token68 then orphan param", ['Bearer realm= , error="e"'], [("bearer", {}, "realm=")]),
    ("empty string", [""], []),
    ("only commas", [", , ,"], []),
    ("not a token start", ['"quoted", Bearer realm="x"'], [("bearer", {"realm": "x"}, None)]),
    (
        "control characters",
        ['Bearer realm="a\r\nb", error="x\x00"'],
        [("bearer", {"realm": "a  b", "error": "x "}, None)],
    ),
    (
        "non-ascii in quotes",
        ['Bearer realm="caf\u00e9 \u2603"'],
        [("bearer", {"realm": "caf\u00e9 \u2603"}, None)],
    ),
    (
        "dpop and bearer",
        ['DPoP algs="ES256 PS256", Bearer resource_metadata="u"'],
        [("dpop", {"algs": "ES256 PS256"}, None), ("bearer", {"resource_metadata": "u"}, None)],
    ),
]


@pytest.mark.parametrize(
    ("values", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(values: list[str], expected: list[tuple[str, dict[str, str], str | None]]) -> None:
    got = [(c.scheme, dict(c.params), c.token68) for c in parse_www_authenticate(values)]
    assert got == expected


def test_convenience_properties() -> None:
    (challenge,) = parse_www_authenticate(
        [
            'Bearer realm="r", scope="a  b", error="insufficient_scope", error_description="d", '
            'error_uri="https://e", resource_metadata="https://m", authorization_uri="https://a"'
        ]
    )
    assert challenge.is_bearer
    assert challenge.realm == "r"
    assert challenge.scope == "a  b"
    assert challenge.scopes == ("a", "b")
    assert challenge.error == "insufficient_scope"
    assert challenge.error_description == "d"
    assert challenge.error_uri == "https://e"
    assert challenge.resource_metadata == "https://m"
    assert challenge.authorization_uri == "https://a"
    assert challenge.get("REALM") == "r"
    assert Challenge("bearer").scopes == ()


def test_bearer_challenge_picks_the_first_bearer() -> None:
    challenges = parse_www_authenticate(['Basic realm="a"', 'Bearer scope="s1", Bearer scope="s2"'])
    found = bearer_challenge(challenges)
    assert found is not None
    assert found.scope == "s1"
    assert bearer_challenge(parse_www_authenticate(['Basic realm="a"'])) is None
    assert bearer_challenge([]) is None


def test_challenge_is_immutable() -> None:
    challenge = Challenge("bearer", {"realm": "x"})
    with pytest.raises(TypeError):
        challenge.params["realm"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        challenge.scheme = "basic"  # type: ignore[misc]


def test_a_single_string_is_one_header_value() -> None:
    assert parse_www_authenticate('Bearer realm="x"') == [Challenge("bearer", {"realm": "x"})]


def test_odd_inputs_do_not_raise() -> None:
    odd: Any = [None, 1, b'Bearer realm="b"', object()]
    assert parse_www_authenticate(odd) == [Challenge("bearer", {"realm": "b"})]
    assert parse_www_authenticate(None) == []  # type: ignore[arg-type]


def test_bounded_challenges_and_params() -> None:
    many = ", ".join(f"S{i}" for i in range(MAX_CHALLENGES * 4))
    assert len(parse_www_authenticate([many])) == MAX_CHALLENGES
    params = ", ".join(f'p{i}="v"' for i in range(MAX_PARAMS * 4))
    (challenge,) = parse_www_authenticate([f"Bearer {params}"])
    assert len(challenge.params) == MAX_PARAMS
    lines = [f'Bearer realm="{i}"' for i in range(1000)]
    assert len(parse_www_authenticate(lines)) <= MAX_CHALLENGES


@pytest.mark.parametrize(
    "hostile",
    [
        "Bearer " + "a" * 5_000_000,
        'Bearer realm="' + "\\" * 5_000_000,
        "Bearer " + "a=" * 2_000_000,
        "," * 5_000_000,
        "Bearer " + '"' * 5_000_000,
        "Bearer " + "a " * 2_000_000,
        "B " * 2_000_000,
    ],
    ids=["long-token", "backslashes", "many-params", "commas", "quotes", "spaces", "schemes"],
)
def test_huge_input_is_cut_and_fast(hostile: str) -> None:
    start = time.perf_counter()
    challenges = parse_www_authenticate([hostile] * 100)
    assert time.perf_counter() - start < 2.0
    for challenge in challenges:
        for value in challenge.params.values():
            assert len(value) <= MAX_VALUE_CHARS


# --- properties ----------------------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOKEN68_CHARS = "-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
# Any printable text, quotes and backslashes included; control characters are not header text.
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from('"\\\t,= '),
    max_size=40,
)
token68s = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet=TOKEN68_CHARS, min_size=1, max_size=20),
    st.integers(0, 2),
)


@st.composite
def challenges(draw: st.DrawFn) -> Challenge:
    scheme = draw(tokens).lower()
    if draw(st.booleans()):
        return Challenge(scheme, {}, draw(token68s))
    names = draw(st.lists(tokens.map(str.lower), max_size=6, unique=True))
    return Challenge(scheme, {name: draw(values) for name in names})


@given(st.lists(st.text(max_size=300), max_size=5))
@settings(max_examples=500)
def test_never_raises_on_text(header_values: list[str]) -> None:
    result = parse_www_authenticate(header_values)
    assert len(result) <= MAX_CHALLENGES
    for challenge in result:
        assert challenge.scheme == challenge.scheme.lower()
        assert all(name == name.lower() for name in challenge.params)


_ALPHABET = st.sampled_from([*'Bearer realm="\\, =\t\r\nabc', "Basic", "scope", "error"])


@given(st.lists(_ALPHABET, max_size=80).map("".join))
@settings(max_examples=1000)
def test_never_raises_on_header_like_text(header_value: str) -> None:
    parse_www_authenticate([header_value])


@given(st.lists(challenges(), min_size=1, max_size=5), st.sampled_from([", ", ",", " , ", ",\t"]))
@settings(max_examples=500)
def test_round_trip_one_header(generated: list[Challenge], sep: str) -> None:
    header = sep.join(format_challenge(c) for c in generated)
    assert parse_www_authenticate([header]) == generated


@given(st.lists(challenges(), min_size=1, max_size=5))
def test_round_trip_header_lines(generated: list[Challenge]) -> None:
    assert parse_www_authenticate([format_challenge(c) for c in generated]) == generated
