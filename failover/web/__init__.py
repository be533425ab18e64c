"""The browser door: server-rendered pages for incident commanders, approvers and auditors.

Views here read through selectors and change state only through the services layer; what a
person may do is decided there, the pages only mirror it so nobody is offered a dead button.
"""
