"""Counts sessions across the server's life; every hook runs once per event."""


def on_server_loaded(server_context):
    server_context.application_stats = {"created": 0, "destroyed": 0}


def on_session_created(session_context):
    session_context.server_context.application_stats["created"] += 1


def on_session_destroyed(session_context):
    session_context.server_context.application_stats["destroyed"] += 1


def on_server_unloaded(server_context):
    pass
