"""Encryption of payloads on Kafka: delivery-job bodies and the bytes copied into invalid records.

The same scheme as secrets and as the results' ``payload_encrypted`` (:class:`SecretBox`, AES-256-GCM
with ``WEBHOOK_SECRETS_KEY``). A job body is bound to its delivery id (``delivery:<id>``), so the
ciphertext a job carries can be copied as is into its results, and cannot be moved to another job.
Producers encrypt when ``KAFKA_PAYLOAD_ENCRYPTION`` is on; consumers open whatever they find
(plaintext records of an older version, or of a producer with encryption off, stay readable).
"""

from __future__ import annotations

import base64
import binascii

from contracts.deliveries import DeadLetterV1, DeliveryJobV1, payload_context
from contracts.events import InvalidEventV1
from contracts.records import invalid_value_context
from webhook_core.secrets_crypto import DecryptionError, SecretBox


class PayloadDecryptionError(ValueError):
    """An encrypted payload does not decrypt (wrong key, tampered, or bound to another record).

    The message names the record, never the payload.
    """


class Payloads:
    """Seals payloads for Kafka (when ``encrypt``) and opens them (always)."""

    def __init__(self, box: SecretBox, *, encrypt: bool = True) -> None:
        self.box = box
        self.encrypt = encrypt

    def seal(self, job: DeliveryJobV1) -> DeliveryJobV1:
        """The job as it must travel: the body encrypted, or in plaintext when encryption is off.

        An opened job keeps the ciphertext it came with (same delivery id, same body): it travels
        again as is, without encrypting anew.
        """
        if self.encrypt:
            if job.body_encrypted is not None:
                return job if job.body is None else job.model_copy(update={"body": None})
            sealed = self.box.encrypt(job.body_text, payload_context(job.delivery_id))
            return job.model_copy(update={"body": None, "body_encrypted": sealed})
        if job.body is None:
            job = self.open(job)
        return job if job.body_encrypted is None else job.model_copy(update={"body_encrypted": None})

    def open(self, job: DeliveryJobV1) -> DeliveryJobV1:
        """The job with its plaintext body; in memory only, it keeps its ciphertext too (for
        :meth:`seal` and the results: no encryption anew).

        Raises :class:`PayloadDecryptionError` when the body does not decrypt for this delivery id.
        """
        if job.body is not None or job.body_encrypted is None:
            return job
        try:
            body = self.box.decrypt(job.body_encrypted, payload_context(job.delivery_id))
        except DecryptionError:
            raise PayloadDecryptionError(
                f"delivery {job.delivery_id}: body_encrypted does not decrypt for this delivery id "
                "(wrong WEBHOOK_SECRETS_KEY, tampered, or copied from another job)"
            ) from None
        return job.model_copy(update={"body": body})

    def open_letter(self, letter: DeadLetterV1) -> DeadLetterV1:
        """The dead letter with its job opened."""
        return letter.model_copy(update={"job": self.open(letter.job)})

    def seal_value(self, value: bytes, context: str) -> str | None:
        """``value`` (bytes of any kind) encrypted under ``context``; ``None`` when encryption is off."""
        if not self.encrypt:
            return None
        return self.box.encrypt(base64.b64encode(value).decode(), context)

    def invalid_value(self, invalid: InvalidEventV1) -> bytes:
        """The bytes an invalid record copied (decrypted when encrypted)."""
        if invalid.value_encrypted is None:
            return base64.b64decode(invalid.value_b64 or "")
        context = invalid_value_context(invalid.source_topic, invalid.partition, invalid.offset)
        try:
            return base64.b64decode(self.box.decrypt(invalid.value_encrypted, context), validate=True)
        except (DecryptionError, binascii.Error):
            raise PayloadDecryptionError(
                f"invalid record of {invalid.source_topic}/{invalid.partition}@{invalid.offset}: "
                "value_encrypted does not decrypt for this record"
            ) from None
