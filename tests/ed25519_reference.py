"""A small, slow, test-only Ed25519 (RFC 8032) in pure Python: an independent oracle.

Nothing here is constant time or meant for real keys. It exists so that the
tests can decide what the verification rule of docs/PROTOCOL.md section 5
says about a signature without asking the implementation under test, and so
that tests/vectors/generate.py can build adversarial signatures (torsion
components, small-order points, non-canonical encodings) that no honest
signer produces.

Points are kept in extended twisted Edwards coordinates (X : Y : Z : T) with
x = X/Z, y = Y/Z, x*y = T/Z (RFC 8032 section 5.1.4). The curve is
-x^2 + y^2 = 1 + d*x^2*y^2 over GF(p); d is not a square, so the addition
formula below is complete (no special cases for doubling or the identity).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _inv(x: int) -> int:
    return pow(x, P - 2, P)


@dataclass(frozen=True)
class Point:
    X: int
    Y: int
    Z: int
    T: int

    def __add__(self, other: Point) -> Point:
        # RFC 8032 section 5.1.4, "add" for a = -1.
        a = (self.Y - self.X) * (other.Y - other.X) % P
        b = (self.Y + self.X) * (other.Y + other.X) % P
        c = 2 * D * self.T * other.T % P
        dd = 2 * self.Z * other.Z % P
        e, f, g, h = b - a, dd - c, dd + c, b + a
        return Point(e * f % P, g * h % P, f * g % P, e * h % P)

    def __neg__(self) -> Point:
        return Point(-self.X % P, self.Y, self.Z, -self.T % P)

    def __sub__(self, other: Point) -> Point:
        return self + (-other)

    def __mul__(self, scalar: int) -> Point:
        """Scalar multiplication by any non-negative integer (double and add)."""
        if scalar < 0:
            return (-self) * (-scalar)
        result, addend = IDENTITY, self
        while scalar:
            if scalar & 1:
                result = result + addend
            addend = addend + addend
            scalar >>= 1
        return result

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return (self.X * other.Z - other.X * self.Z) % P == 0 and (
            self.Y * other.Z - other.Y * self.Z
        ) % P == 0

    def __hash__(self) -> int:
        return hash(self.affine())

    def affine(self) -> tuple[int, int]:
        zi = _inv(self.Z)
        return self.X * zi % P, self.Y * zi % P

    def encode(self) -> bytes:
        """RFC 8032 section 5.1.2: y little-endian, the low bit of x in bit 255."""
        x, y = self.affine()
        return (y | ((x & 1) << 255)).to_bytes(32, "little")

    def is_identity(self) -> bool:
        return self == IDENTITY

    def is_small_order(self) -> bool:
        return (self * 8).is_identity()

    def order(self) -> int:
        """The order of a point, if it is 1, 2, 4 or 8, or a multiple of L otherwise (returned as 0)."""
        q = self
        for n in (1, 2, 4, 8):
            if q.is_identity():
                return n
            q = q + q
        return 0


def from_affine(x: int, y: int) -> Point:
    return Point(x % P, y % P, 1, x * y % P)


IDENTITY = Point(0, 1, 1, 0)


def on_curve(x: int, y: int) -> bool:
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def recover_x(y: int, sign: int) -> int | None:
    """The x with the given low bit on the curve at y (RFC 8032 section 5.1.3 steps 2-4).

    None when no x exists. For x = 0 the sign is ignored here: the caller
    decides whether a set sign bit with x = 0 is acceptable.
    """
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        if (v * x * x + u) % P != 0:
            return None
        x = x * SQRT_M1 % P
    if x != 0 and x & 1 != sign:
        x = P - x
    return x


@dataclass(frozen=True)
class Decoded:
    """What 32 bytes say about a point, for every reading the tests care about."""

    point: Point | None  # the point under lenient decoding (y mod p, any sign with x = 0); None if off-curve
    y_canonical: bool  # y < p
    sign_with_zero_x: bool  # x = 0 but the sign bit is set (RFC 8032 rejects this)

    @property
    def canonical(self) -> bool:
        """RFC 8032 section 5.1.3 decoding succeeds and the encoding is the point's only spelling."""
        return self.point is not None and self.y_canonical and not self.sign_with_zero_x


def decode(data: bytes) -> Decoded:
    if len(data) != 32:
        raise ValueError("a point encoding is 32 bytes")
    raw = int.from_bytes(data, "little")
    sign = raw >> 255
    y_field = raw & ((1 << 255) - 1)
    y = y_field % P
    x = recover_x(y, sign)
    if x is None:
        return Decoded(None, y_field < P, False)
    return Decoded(from_affine(x, y), y_field < P, x == 0 and sign == 1)


def decode_canonical(data: bytes) -> Point | None:
    decoded = decode(data)
    return decoded.point if decoded.canonical else None


BASE = from_affine(recover_x(4 * _inv(5) % P, 0) or 0, 4 * _inv(5) % P)


def _sha512_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def challenge(r_bytes: bytes, a_bytes: bytes, message: bytes) -> int:
    """k = SHA-512(R || A || M) mod L."""
    return _sha512_int(r_bytes, a_bytes, message) % L


def expand_seed(seed: bytes) -> tuple[int, bytes]:
    """RFC 8032 section 5.1.5: the clamped secret scalar and the nonce prefix."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed: bytes) -> bytes:
    a, _ = expand_seed(seed)
    return (BASE * a).encode()


def sign(seed: bytes, message: bytes) -> bytes:
    """RFC 8032 section 5.1.6 (PureEdDSA, deterministic)."""
    a, prefix = expand_seed(seed)
    a_bytes = (BASE * a).encode()
    r = _sha512_int(prefix, message) % L
    r_bytes = (BASE * r).encode()
    s = (r + challenge(r_bytes, a_bytes, message) * a) % L
    return r_bytes + s.to_bytes(32, "little")


def key_verdict(a_bytes: bytes) -> str | None:
    """PROTOCOL section 5 rules 2-3 (and section 6 step 5) for a public key.

    None for an acceptable key; otherwise the error code a verifier reports
    when the key is enrolled or configured.
    """
    if len(a_bytes) != 32:
        return "invalid_public_key"
    decoded = decode(a_bytes)
    if not decoded.canonical:
        return "invalid_public_key"
    assert decoded.point is not None
    if decoded.point.is_small_order():
        return "weak_public_key"
    return None


def rejection(a_bytes: bytes, message: bytes, signature: bytes) -> str | None:
    """Which rule of PROTOCOL section 5 rejects the signature, or None if it is valid.

    Returns "length", "rule1" (S >= L), "rule2" (non-canonical or off-curve
    A or R), "rule3" (small-order A or R) or "rule4" (the cofactored group
    equation fails).
    """
    if len(signature) != 64 or len(a_bytes) != 32:
        return "length"
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= L:
        return "rule1"
    a, r = decode_canonical(a_bytes), decode_canonical(r_bytes)
    if a is None or r is None:
        return "rule2"
    if a.is_small_order() or r.is_small_order():
        return "rule3"
    k = challenge(r_bytes, a_bytes, message)
    if not ((BASE * s - r - a * k) * 8).is_identity():
        return "rule4"
    return None


def verify(a_bytes: bytes, message: bytes, signature: bytes) -> bool:
    """The cofactored, strict verification rule of PROTOCOL section 5."""
    return rejection(a_bytes, message, signature) is None


def verify_cofactorless(a_bytes: bytes, message: bytes, signature: bytes) -> bool:
    """The rule of ed25519-dalek's verify_strict and libsodium: same rejections, cofactorless equation.

    The equation is checked as those libraries do: [S]B - [k]A must encode to
    exactly the bytes of R.
    """
    if len(signature) != 64 or len(a_bytes) != 32:
        return False
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a, r = decode_canonical(a_bytes), decode_canonical(r_bytes)
    if a is None or r is None or a.is_small_order() or r.is_small_order():
        return False
    k = challenge(r_bytes, a_bytes, message)
    return (BASE * s - a * k).encode() == r_bytes


def torsion_generator() -> Point:
    """A point of order exactly 8, found by clearing the prime-order part of small-y points."""
    y = 2
    while True:
        x = recover_x(y, 0)
        if x is not None:
            t = from_affine(x, y) * L
            if t.order() == 8:
                return t
        y += 1


def torsion_points() -> list[Point]:
    """The 8 points of small order, as [i]T for a generator T of order 8, i = 0..7."""
    t = torsion_generator()
    return [t * i for i in range(8)]
