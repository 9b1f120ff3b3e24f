"""Shamir secret sharing over GF(2^8) (0x11B), combine only — the scheme sops uses for key groups.

A share is the y-bytes followed by one x-coordinate byte.
"""

from __future__ import annotations


def _mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def _inv(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    result, power, exp = 1, a, 254  # a^254 = a^-1
    while exp:
        if exp & 1:
            result = _mul(result, power)
        power = _mul(power, power)
        exp >>= 1
    return result


def combine(shares: list[bytes]) -> bytes:
    """Interpolate every byte position at x=0 using all shares (at least two)."""
    if len(shares) < 2:
        raise ValueError("need at least two shares")
    length = len(shares[0])
    if length < 2 or any(len(s) != length for s in shares):
        raise ValueError("shares have unequal or too short lengths")
    xs = [s[-1] for s in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("duplicate share x-coordinates")
    # Lagrange basis at x=0: l_i = prod_{j!=i} x_j / (x_i + x_j)   (addition is XOR)
    basis = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = _mul(num, xj)
                den = _mul(den, xi ^ xj)
        basis.append(_mul(num, _inv(den)))
    secret = bytearray(length - 1)
    for pos in range(length - 1):
        acc = 0
        for share, li in zip(shares, basis):
            acc ^= _mul(share[pos], li)
        secret[pos] = acc
    return bytes(secret)
