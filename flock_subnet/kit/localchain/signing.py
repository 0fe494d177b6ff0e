"""Signed calls: every write to the local chain is a message signed by a key and verified first.

A call is encoded canonically (sorted-key JSON of the chain's genesis id, the call name, the
signer's ss58 address and the parameters), signed by the wallet's keypair, and verified with the
public key derived from the claimed ss58 address. A wallet whose keypair does not own the address
it claims fails verification, exactly as an extrinsic with a forged signature fails on subtensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flock_subnet.chain.wallets import verify_signature


@dataclass(frozen=True)
class SignedCall:
    """A call, who claims to sign it, and the signature over its canonical bytes."""

    call: str
    signer: str
    params: dict[str, Any]
    genesis: str
    signature: bytes

    @property
    def payload(self) -> bytes:
        return call_payload(self.genesis, self.call, self.signer, self.params)


def call_payload(genesis: str, call: str, signer: str, params: dict[str, Any]) -> bytes:
    """The exact bytes that get signed for this call."""
    body = {"chain": genesis, "call": call, "signer": signer, "params": params}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")


def sign_call(keypair: Any, genesis: str, call: str, params: dict[str, Any]) -> SignedCall:
    """Sign `call(params)` with `keypair` (anything with `.ss58_address` and `.sign(bytes)`)."""
    signer = str(keypair.ss58_address)
    signature = keypair.sign(call_payload(genesis, call, signer, params))
    if isinstance(signature, str):
        signature = bytes.fromhex(signature.removeprefix("0x"))
    return SignedCall(call=call, signer=signer, params=params, genesis=genesis, signature=bytes(signature))


def verify_call(signed: SignedCall) -> bool:
    """True only if `signed.signature` is valid for its payload under the signer's public key."""
    return verify_signature(signed.signer, signed.payload, signed.signature)
