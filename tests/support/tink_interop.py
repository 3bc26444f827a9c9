"""Python tink side of the interop tests for runbook's encrypted object format.

Used by tests/tink_interop.rs through the interpreter named by RUNBOOK_PYTHON (a venv with
`pip install tink`). Subcommands:

    decrypt KEY_HEX AD_HEX IN OUT   Tink stream IN (no envelope) -> plaintext OUT
    encrypt KEY_HEX AD_HEX IN OUT   plaintext IN -> Tink stream OUT (no envelope)
    recover IN                      runbook object IN (envelope + stream) -> plaintext on stdout,
                                    key (base64) from the environment variable BACKUP_ENCRYPTION_KEY

`recover` runs, line for line, the "Recover without runbook" script of docs/format.md: the Rust
test checks that the document contains the block between the two marker lines below verbatim,
and the document's script ends with the same call that main() makes.
"""


# --- recover script: begin ---
import base64
import os
import shutil
import sys

import tink
from tink import secret_key_access
from tink import streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

ENVELOPE_LEN = 13  # b"RBKE" + version (1) + key id (8); also the associated data


def streaming_aead_from_raw_key(raw_key: bytes) -> streaming_aead.StreamingAead:
    """Tink AES256_GCM_HKDF_1MB with the given 32-byte key, as a StreamingAead."""
    streaming_aead.register()
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=raw_key,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=1048576,
            derived_key_size=32,
            hkdf_hash_type=common_pb2.SHA256,
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
                    value=key.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    handle = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


def parse_key(text: str) -> bytes:
    """The 32 key bytes from 64 hex characters or base64 (padding optional)."""
    text = text.strip()
    if len(text) == 64:
        return bytes.fromhex(text)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def recover(key_text: str, object_path: str, out) -> None:
    """Decrypts the runbook object at object_path into the binary file out."""
    key = parse_key(key_text)
    with open(object_path, "rb") as src:
        envelope = src.read(ENVELOPE_LEN)
        if len(envelope) != ENVELOPE_LEN or envelope[:5] != b"RBKE\x01":
            sys.exit("not a runbook encrypted object (version 1)")
        aead = streaming_aead_from_raw_key(key)
        with aead.new_decrypting_stream(src, associated_data=envelope) as plaintext:
            shutil.copyfileobj(plaintext, out, 1 << 20)
    out.flush()
# --- recover script: end ---


def decrypt(key_hex: str, ad_hex: str, in_path: str, out_path: str) -> None:
    """Decrypts a bare Tink stream (no envelope) with the given associated data."""
    aead = streaming_aead_from_raw_key(bytes.fromhex(key_hex))
    with open(in_path, "rb") as src, open(out_path, "wb") as dst:
        with aead.new_decrypting_stream(src, associated_data=bytes.fromhex(ad_hex)) as plaintext:
            shutil.copyfileobj(plaintext, dst, 1 << 20)


def encrypt(key_hex: str, ad_hex: str, in_path: str, out_path: str) -> None:
    """Encrypts in_path into a bare Tink stream (no envelope) with the given associated data."""
    aead = streaming_aead_from_raw_key(bytes.fromhex(key_hex))
    with open(in_path, "rb") as src, open(out_path, "wb") as dst:
        with aead.new_encrypting_stream(dst, associated_data=bytes.fromhex(ad_hex)) as ciphertext:
            shutil.copyfileobj(src, ciphertext, 1 << 20)


def main(argv: list) -> None:
    if len(argv) == 6 and argv[1] == "decrypt":
        decrypt(*argv[2:])
    elif len(argv) == 6 and argv[1] == "encrypt":
        encrypt(*argv[2:])
    elif len(argv) == 3 and argv[1] == "recover":
        recover(os.environ["BACKUP_ENCRYPTION_KEY"], argv[2], sys.stdout.buffer)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
