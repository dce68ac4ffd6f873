"""Secret fields encrypted at rest and on the topic: Fernet with a key from settings.

Only fields holding a `Secret` are encrypted, so the rest of each event stays readable to
every consumer; a consumer that holds the key (a webhook deliverer) can open them.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from eventsourcing.persistence import Transcoding

from domain.shared.values import Secret


class SecretBox:
    """Seals and opens secret text with one Fernet key (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a secret could not be decrypted: SWITCHLOG_SECRETS_KEY is not the key it was"
                " sealed with"
            ) from None


class SecretKeyError(RuntimeError):
    """The configured key does not open a stored secret."""


class SecretAsCiphertext(Transcoding):
    """How the store's transcoder writes a `Secret`: as Fernet ciphertext, never clear."""

    type = Secret
    name = "secret"

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def encode(self, obj: Secret) -> str:
        return self.box.seal(obj.value)

    def decode(self, data: str) -> Secret:
        return Secret(self.box.open(data))
