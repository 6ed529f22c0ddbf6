"""The Exchange Online admin REST `InvokeCommand` endpoint (the EXO V3 module's backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sim.evidence import SimRule
from bot.sim.state import SimUser, TenantState
from bot.sim.wire import SimFailure, exchange_error, nul_body_reply

# Microsoft documents that an unblock limit exists and that its error needs Microsoft support,
# but not its text [D for the limit, ? for the words]: the simulator's words are its own, and a
# test can put any text here (TenantState.unblock_limit_message).
UNBLOCK_LIMIT_MESSAGE = (
    "{sender} can't be removed from the restricted list now. Contact Microsoft support."
)

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
    if entry is not None and sender.lower() in state.unblock_limit:
        words = state.unblock_limit_message or UNBLOCK_LIMIT_MESSAGE
        raise exchange_error(400, "BadRequest", words.format(sender=sender))
    if entry is None:
        raise exchange_error(
            404,
            "NotFound",
            f"|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
            f"The address '{sender}' isn't on the blocked senders list.",
            exception="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        )
    state.blocks.remove(entry)
    state.removed.append(entry.sender)
    return []


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _mailbox(state: TenantState, params: dict[str, Any], key: str = "Identity") -> SimUser:
    identity = params.get(key)
    user = state.user(identity) if isinstance(identity, str) else None
    if user is None:
        raise exchange_error(
            404,
            "NotFound",
            f"|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
            f"The operation couldn't be performed because object '{identity}' couldn't be "
            "found on 'AM0PR01A003DC01.EURPR01A003.PROD.OUTLOOK.COM'.",
            exception="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        )
    return user


def get_mailbox(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Get-Mailbox -Identity x`: identity and forwarding fields."""
    user = _mailbox(state, params)
    ev = state.evidence_of(user.upn)
    return [
        {
            "Identity": user.upn,
            "Name": user.upn.split("@")[0],
            "DisplayName": user.display_name,
            "UserPrincipalName": user.upn,
            "PrimarySmtpAddress": user.mail,
            "ExternalDirectoryObjectId": user.id,
            "RecipientTypeDetails": "UserMailbox",
            "ForwardingAddress": ev.forwarding_address,
            "ForwardingSmtpAddress": f"smtp:{ev.forwarding_smtp}" if ev.forwarding_smtp else None,
            "DeliverToMailboxAndForward": ev.deliver_and_forward,
            "GrantSendOnBehalfTo": [],
        }
    ]


def set_mailbox(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Set-Mailbox -Identity x -ForwardingSmtpAddress $null …`: only forwarding is simulated."""
    user = _mailbox(state, params)
    ev = state.evidence_of(user.upn)
    supported = {
        "Identity",
        "ForwardingSmtpAddress",
        "ForwardingAddress",
        "DeliverToMailboxAndForward",
    }
    unknown = set(params) - supported
    if unknown:
        raise exchange_error(
            400,
            "BadRequest",
            f"A parameter cannot be found that matches parameter name '{sorted(unknown)[0]}'.",
        )
    if "ForwardingSmtpAddress" in params:
        value = params["ForwardingSmtpAddress"]
        ev.forwarding_smtp = str(value).removeprefix("smtp:") if value else None
    if "ForwardingAddress" in params:
        ev.forwarding_address = params["ForwardingAddress"] or None
    if "DeliverToMailboxAndForward" in params:
        ev.deliver_and_forward = bool(params["DeliverToMailboxAndForward"])
    return []


def _recipients(addresses: list[str]) -> list[str] | None:
    return [f'"{a}" [SMTP:{a}]' for a in addresses] or None


def exchange_rule(user: SimUser, rule: SimRule, priority: int) -> dict[str, Any]:
    """A rule as `Get-InboxRule` returns it."""
    return {
        "Name": rule.name,
        "Identity": f"{user.upn}\\{rule.id}",
        "RuleIdentity": rule.id,
        "MailboxOwnerId": user.upn,
        "Enabled": rule.enabled,
        "Priority": priority,
        "ForwardTo": _recipients(rule.forward_to),
        "RedirectTo": _recipients(rule.redirect_to),
        "ForwardAsAttachmentTo": _recipients(rule.forward_as_attachment_to),
        "DeleteMessage": rule.delete,
        "SoftDeleteMessage": rule.permanent_delete,
        "MoveToFolder": f"{user.upn}:\\{rule.move_to_folder}" if rule.move_to_folder else None,
        "MarkAsRead": rule.mark_as_read,
        "StopProcessingRules": rule.stop_processing,
        "SubjectOrBodyContainsWords": rule.subject_or_body_contains or None,
        "SubjectContainsWords": rule.subject_contains or None,
        "BodyContainsWords": rule.body_contains or None,
        "From": _recipients(rule.from_addresses),
        "Description": f"If the message meets the conditions of rule '{rule.name}'",
    }


def get_inbox_rule(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Get-InboxRule -Mailbox x [-IncludeHidden]`."""
    user = _mailbox(state, params, "Mailbox")
    hidden = bool(params.get("IncludeHidden"))
    rules = state.evidence_of(user.upn).rules
    return [exchange_rule(user, r, i + 1) for i, r in enumerate(rules) if hidden or not r.hidden]


def disable_inbox_rule(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Disable-InboxRule -Mailbox x -Identity <RuleIdentity>` (hidden rules too)."""
    return _switch_rule(state, params, enabled=False)


def enable_inbox_rule(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Enable-InboxRule -Mailbox x -Identity <RuleIdentity>` (hidden rules too)."""
    return _switch_rule(state, params, enabled=True)


def _switch_rule(
    state: TenantState, params: dict[str, Any], *, enabled: bool
) -> list[dict[str, Any]]:
    user = _mailbox(state, params, "Mailbox")
    wanted = str(params.get("Identity", "")).split("\\")[-1]
    for rule in state.evidence_of(user.upn).rules:
        if rule.id == wanted:
            rule.enabled = enabled
            return []
    raise exchange_error(
        404,
        "NotFound",
        f"|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
        f'The Inbox rule "{wanted}" couldn\'t be found.',
    )


def get_mailbox_permission(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Get-MailboxPermission -Identity x`: SELF plus FullAccess delegates."""
    user = _mailbox(state, params)
    rows = [
        {
            "Identity": user.upn,
            "User": "NT AUTHORITY\\SELF",
            "AccessRights": ["FullAccess, ReadPermission"],
            "IsInherited": False,
            "Deny": False,
        }
    ]
    rows += [
        {
            "Identity": user.upn,
            "User": d,
            "AccessRights": ["FullAccess"],
            "IsInherited": False,
            "Deny": False,
        }
        for d in state.evidence_of(user.upn).full_access
    ]
    return rows


def get_recipient_permission(state: TenantState, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`Get-RecipientPermission -Identity x`: SendAs trustees."""
    user = _mailbox(state, params)
    rows = [
        {
            "Identity": user.upn,
            "Trustee": "NT AUTHORITY\\SELF",
            "AccessControlType": "Allow",
            "AccessRights": ["SendAs"],
            "IsInherited": False,
            "InheritanceType": "None",
        }
    ]
    rows += [
        {
            "Identity": user.upn,
            "Trustee": t,
            "AccessControlType": "Allow",
            "AccessRights": ["SendAs"],
            "IsInherited": False,
            "InheritanceType": "None",
        }
        for t in state.evidence_of(user.upn).send_as
    ]
    return rows


CMDLETS: dict[str, Cmdlet] = {
    "Get-BlockedSenderAddress": get_blocked_sender_address,
    "Remove-BlockedSenderAddress": remove_blocked_sender_address,
    "Get-Mailbox": get_mailbox,
    "Set-Mailbox": set_mailbox,
    "Get-InboxRule": get_inbox_rule,
    "Disable-InboxRule": disable_inbox_rule,
    "Enable-InboxRule": enable_inbox_rule,
    "Get-MailboxPermission": get_mailbox_permission,
    "Get-RecipientPermission": get_recipient_permission,
}


def cmdlet_name(body: Any) -> str:
    """The cmdlet an InvokeCommand body asks for ("?" when the body is malformed)."""
    cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
    name = cmdlet_input.get("CmdletName") if isinstance(cmdlet_input, dict) else None
    return name if isinstance(name, str) else "?"


# Mailbox cmdlets run where the mailbox lives: anchored elsewhere they fail [C]. Which cmdlets
# need it is documented for Get-InboxRule only; the simulator asks it of the rule cmdlets.
ANCHORED = frozenset({"Get-InboxRule", "Disable-InboxRule", "Enable-InboxRule"})


def run_cmdlet(state: TenantState, body: Any, anchor: str = "") -> tuple[str, list[dict[str, Any]]]:
    """Validate an InvokeCommand body and run its cmdlet; returns (cmdlet name, rows)."""
    cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
    if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletName"), str):
        raise exchange_error(400, "BadRequest", "The request body must contain CmdletInput.")
    name: str = cmdlet_input["CmdletName"]
    params = cmdlet_input.get("Parameters") or {}
    if not isinstance(params, dict):
        raise exchange_error(400, "BadRequest", "CmdletInput.Parameters must be an object.")
    cmdlet = CMDLETS.get(name)
    allowed = state.exchange_cmdlets
    if cmdlet is None or (allowed is not None and name not in allowed):
        # An unknown cmdlet, or one the app's Exchange role does not include: a 403 with a
        # body of NUL bytes [C]. Some clients saw "not recognized as the name of a cmdlet"
        # instead [C, older module versions]; a scenario can ask for that answer.
        if state.hidden_cmdlet_answer == "not-recognized":
            raise exchange_error(
                400,
                "BadRequest",
                f"|System.Management.Automation.CommandNotFoundException|The term '{name}' "
                "is not recognized as the name of a cmdlet, function, script file, or operable "
                "program.",
            )
        raise SimFailure(nul_body_reply(403))
    if name in ANCHORED and params.get("Mailbox") is not None:
        wanted = f"UPN:{params['Mailbox']}".lower()
        if anchor.lower() != wanted:  # the status for this case is a guess; the text is not
            raise exchange_error(
                400,
                "BadRequest",
                "|Microsoft.Exchange.Configuration.Tasks.CmdletProxyNotAvailableException|"
                f"Cmdlet {name} needs to be proxied to the mailbox's server, but the request "
                "is anchored elsewhere.",
            )
    return name, cmdlet(state, params)


__all__ = ["CMDLETS", "SimFailure", "run_cmdlet"]
