"""`private_key_jwt` client authentication (RFC 7523 section 2.2, OpenID Connect Core 9).

The client proves who it is with a JWT it signs with its own private key instead of sending a
shared secret: `iss` and `sub` are the client id, `aud` is the authorization server (its token
endpoint or its issuer), and a unique `jti` with a short `exp` keeps an intercepted assertion from
being replayed for long. PyJWT (with `cryptography`) does the JOSE work.
"""

from __future__ import annotations

import secrets
import time
from typing import Final, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

SigningAlgorithm = Literal["RS256", "ES256"]
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# RSA keys shorter than this are refused (NIST SP 800-131A; PyJWT warns below it too).
MIN_RSA_BITS: Final = 2048

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def load_signing_key(pem: str, algorithm: SigningAlgorithm) -> SigningKey:
    """The private key in `pem` (PKCS#8 or the traditional RSA/EC form, unencrypted), checked to
    fit `algorithm`; ValueError with a one-line reason otherwise (never the key itself)."""
    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:
        raise ValueError("the private key is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            "not a PEM private key (expected an unencrypted PKCS#8 -----BEGIN PRIVATE KEY----- "
            "or RSA/EC private key)"
        ) from None
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"RS256 needs an RSA private key, not {_kind(key)}")
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"the RSA key has {key.key_size} bits; RS256 needs at least 2048")
        return key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"ES256 needs an EC private key on P-256, not {_kind(key)}")
    return key


def _kind(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name}"
    return f"a {type(key).__name__.removeprefix('_')} key"


def client_assertion(
    *,
    client_id: str,
    audience: str,
    key: SigningKey,
    algorithm: SigningAlgorithm,
    key_id: str | None,
    lifetime: float,
    now: float | None = None,
) -> str:
    """A signed client assertion for one token request."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        # 128 random bits: the authorization server may keep every jti until it expires.
        "jti": secrets.token_urlsafe(16),
        "iat": issued,
        "exp": issued + max(1, int(lifetime)),
    }
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
