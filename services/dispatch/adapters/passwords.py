"""Argon2id password hashes (argon2-cffi, its RFC 9106 low-memory profile by default).

Hashing is slow on purpose (tens of milliseconds and 64 MiB), so it runs in a worker thread and never
stalls the event loop. A sign-in for a login that does not exist still verifies against a dummy hash, so
the answer takes about as long either way and gives no hint whether the login exists.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@functools.cache
def _hasher() -> PasswordHasher:
    """The hasher of the configured profile (MCC_DISPATCH_PASSWORD_PROFILE), made on first use. A stored hash
    carries its own parameters, so hashes made under another profile still verify."""
    from services.dispatch.config import DispatchSettings

    return PasswordHasher.from_parameters(getattr(profiles, DispatchSettings().password_profile))


@functools.cache
def _dummy() -> str:
    return _hasher().hash("no account has this password; it only takes time")


async def hash_password(password: str) -> str:
    """The Argon2id hash to store."""
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches; a missing hash takes as long as a wrong password."""

    def check() -> bool:
        try:
            return _hasher().verify(stored_hash or _dummy(), password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
