"""Channel names: one per stream a client can subscribe to, plus the control channel."""

CONTROL = "control"


def workspace_channel(workspace_id: int) -> str:
    return f"workspace:{workspace_id}:tasks"


def notifications_channel(user_id: int) -> str:
    return f"user:{user_id}:notifications"


def focus_channel(session_id: int) -> str:
    return f"focus:{session_id}"
