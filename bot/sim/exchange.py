"""The Exchange Online admin REST `InvokeCommand` endpoint (the EXO V3 module's backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sim.state import TenantState
from bot.sim.wire import SimFailure, exchange_error

Cmdlet = Callable[[TenantState, dict[str, Any]], list[dict[str, Any]]]


def _sender_param(params: dict[str, Any], *, required: bool) -> str | None:
    value = params.get("SenderAddress")
    if value is None:
        if required:
            raise exchange_error(
                400,
                "BadRequest",
                "|Microsoft.Exchange.Management.Tasks.ParameterBindingException|"
                "Cannot process command because of one or more missing mandatory parameters: "
                "SenderAddress.",
            )
        return None
    if not isinstance(value, str) or "@" not in value:
        raise exchange_error(
            400, "BadRequest", f"Cannot bind parameter 'SenderAddress'. Invalid value '{value}'."
        )
    return value


def get_blocked_sender_address(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Get-BlockedSenderAddress [-SenderAddress x]`."""
    sender = _sender_param(params, required=False)
    blocks = (
        state.blocks if sender is None else [b for b in state.blocks if _same(b.sender, sender)]
    )
    return [b.exchange() for b in blocks]


def remove_blocked_sender_address(
    state: TenantState, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """`Remove-BlockedSenderAddress -SenderAddress x`: take the sender off the list."""
    sender = _sender_param(params, required=True)
    assert sender is not None
    entry = state.block(sender)
    if entry is None:
        raise exchange_error(
            404,
            "NotFound",
            f"|Microsoft.Exchange.Management.Tasks.ManagementObjectNotFoundException|"
            f"The address '{sender}' isn't on the blocked senders list.",
            exception="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        )
    state.blocks.remove(entry)
    state.removed.append(entry.sender)
    return []


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


CMDLETS: dict[str, Cmdlet] = {
    "Get-BlockedSenderAddress": get_blocked_sender_address,
    "Remove-BlockedSenderAddress": remove_blocked_sender_address,
}


def run_cmdlet(state: TenantState, body: Any) -> tuple[str, list[dict[str, Any]]]:
    """Validate an InvokeCommand body and run its cmdlet; returns (cmdlet name, rows)."""
    cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
    if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletName"), str):
        raise exchange_error(400, "BadRequest", "The request body must contain CmdletInput.")
    name: str = cmdlet_input["CmdletName"]
    params = cmdlet_input.get("Parameters") or {}
    if not isinstance(params, dict):
        raise exchange_error(400, "BadRequest", "CmdletInput.Parameters must be an object.")
    cmdlet = CMDLETS.get(name)
    if cmdlet is None:
        raise exchange_error(
            400,
            "BadRequest",
            f"The term '{name}' is not recognized as the name of a cmdlet, function, "
            "script file, or operable program.",
        )
    return name, cmdlet(state, params)


__all__ = ["CMDLETS", "SimFailure", "run_cmdlet"]
