"""Webhook signatures and payload encryption. Primitives come from ``hmac``/``hashlib`` and ``cryptography``.

- TeleClinic (seed 000): ``X-TeleClinic-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.
- Standard Webhooks (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`` for replay protection.
- qapi (seed 002): AES-256-CBC, PKCS7, key = SHA-256(encryptionKey || salt) raw bytes, a random 8-byte salt
  and 16-byte IV per message; text = Base64(salt) + Base64(IV) + Base64(ciphertext) (12 + 24 + n chars),
  which the seed's PHP snippet (``openssl_decrypt(..., 'AES-256-CBC', $secret, OPENSSL_RAW_DATA, $iv)``) reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def teleclinic_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def new_encryption_key() -> str:
    """A qapi ``encryptionKey``: base64 of 16 random bytes, as in the seed's example."""
    return base64.b64encode(secrets.token_bytes(16)).decode()


def qapi_encrypt(encryption_key: str, plaintext: bytes) -> str:
    salt, iv = os.urandom(8), os.urandom(16)
    key = hashlib.sha256(encryption_key.encode() + salt).digest()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return "".join(base64.b64encode(part).decode() for part in (salt, iv, ciphertext))


def qapi_decrypt(encryption_key: str, text: str) -> bytes:
    """The inverse of ``qapi_encrypt`` (for replays and tests of our own output)."""
    salt, iv, ciphertext = (base64.b64decode(text[:12]), base64.b64decode(text[12:36]),
                            base64.b64decode(text[36:]))
    key = hashlib.sha256(encryption_key.encode() + salt).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()
