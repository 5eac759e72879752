"""What a TLS handshake revealed: version and certificate expiry, for probe_ssl_* metrics."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(slots=True)
class TLSInfo:
    """What the TLS handshake revealed, for probe_ssl_* and probe_tls_version_info."""

    version: str
    cert_not_after: float | None


def tls_info(ssl_object: ssl.SSLObject) -> TLSInfo:
    """Version and certificate expiry of an established TLS connection."""
    der = ssl_object.getpeercert(binary_form=True)
    not_after = _der_not_after(der) if der else None
    return TLSInfo(version=ssl_object.version() or "unknown", cert_not_after=not_after)


def _der_not_after(der: bytes) -> float | None:
    """The notAfter of a DER certificate, in Unix seconds (None if it cannot be read).

    Read from the DER form because getpeercert() is empty when verification is off
    (insecure_skip_verify), and an expiring certificate is worth knowing about then too.
    """
    try:
        _tag, start, _end = _der_item(der, 0)  # Certificate
        _tag, pos, tbs_end = _der_item(der, start)  # TBSCertificate
        if der[pos] == 0xA0:  # [0] version
            pos = _der_item(der, pos)[2]
        for _field in range(3):  # serialNumber, signature, issuer
            pos = _der_item(der, pos)[2]
        tag, pos, _end = _der_item(der, pos)  # validity
        if tag != 0x30 or pos >= tbs_end:
            return None
        pos = _der_item(der, pos)[2]  # notBefore
        tag, start, end = _der_item(der, pos)  # notAfter
        text = der[start:end].decode("ascii")
        if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ
            year = int(text[:2])
            text = f"{19 if year >= 50 else 20}{text}"
        elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
            return None
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None
    return moment.timestamp()


def _der_item(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER item at `pos`."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length
