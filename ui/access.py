"""Who may do what on this server: public or private mode, the training-launch limits, and which visitor is which.

The operator chooses the mode; a visitor cannot. Secure by default: `.streamlit/config.toml` binds the server to
loopback (127.0.0.1), so a fresh clone is reachable only from its own machine, and in the default "auto" mode a
session is private (training launches on, within the limits) only while the server is bound to loopback *and* the
visitor's connection comes from loopback without a proxy's forwarding header. Binding to another address, or a
reverse proxy in front, makes every visitor public unless the operator sets the mode to "private".

Settings, each from the environment (GANSTUDIO_<NAME>) or from `[ganstudio]` in `.streamlit/secrets.toml`:
mode (auto | public | private) and the server_limits.Limits fields (max_concurrent_runs, max_steps, max_snapshots,
run_disk_mb, all_runs_disk_mb, memory_mb, data_roots).
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets

import streamlit as st

from ui import run_launches
from ui.server_limits import LimitError, Limits

MODES = ("auto", "public", "private")
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host")
HOW_TO_TURN_ON = (
    "The operator turns it on by starting the server with `GANSTUDIO_MODE=private` in its environment (or "
    '`mode = "private"` under `[ganstudio]` in `.streamlit/secrets.toml`); see "Running it for others" in the README.'
)


def setting(name: str):
    """GANSTUDIO_<NAME> from the environment, else `name` under [ganstudio] in secrets.toml, else None."""
    env = os.environ.get(f"GANSTUDIO_{name.upper()}")
    if env is not None:
        return env
    try:
        section = st.secrets.get("ganstudio")
    except Exception:  # noqa: BLE001 - no secrets.toml, or an unreadable one: the setting is simply not given
        return None
    if section is None:
        return None
    try:
        return section.get(name)
    except AttributeError:
        return None


def configured_mode() -> str:
    """auto, public or private; anything else is read as public (the safe reading of a typo)."""
    value = str(setting("mode") or "auto").strip().lower()
    return value if value in MODES else "public"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bound_to_loopback() -> bool:
    """True when the server listens on a loopback address only (server.address in config.toml or --server.address)."""
    return _is_loopback(st.get_option("server.address"))


def visitor_is_local() -> bool:
    """The connection comes from this machine and no proxy forwarded it. Streamlit reports loopback clients as None."""
    try:
        if isinstance(st.context.ip_address, str):  # a real remote client (AppTest, in process, has no address)
            return False
        headers = st.context.headers
        return not any(headers.get(h) for h in FORWARDING_HEADERS)
    except Exception:  # noqa: BLE001 - no context (a bare script run): nothing says the visitor is local
        return False


def is_public() -> bool:
    """Public: nothing is started or written on the visitor's behalf and internals are hidden."""
    mode = configured_mode()
    if mode == "auto":
        public = not (bound_to_loopback() and visitor_is_local())
    else:
        public = mode == "public"
    if public:
        hide_error_details()
    return public


def hide_error_details() -> None:
    """An unexpected error shows a generic message, never a traceback or server path (process-wide)."""
    if st.get_option("client.showErrorDetails") != "none":
        st.set_option("client.showErrorDetails", "none")


_latest_limits = [Limits()]  # what the last page run read, for the watcher thread (which has no page to warn on)


def limits() -> Limits:
    """The operator's limits; a malformed setting is reported to the page and the defaults apply."""
    settings = {name: setting(name) for name in Limits.__dataclass_fields__}
    try:
        current = Limits.from_settings(settings)
    except LimitError as exc:
        st.warning(f"A limit setting of this server is malformed ({exc}); the default limits apply.")
        current = Limits()
    _latest_limits[0] = current
    return current


def visitor_id() -> str:
    """Which visitor this is, so only they can stop their runs: a hash of the browser's XSRF cookie (the same across
    refreshes of one browser), else a random id kept in the session."""
    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # noqa: BLE001
        cookie = None
    if isinstance(cookie, str) and cookie:
        return hashlib.sha256(cookie.encode()).hexdigest()[:24]
    return st.session_state.setdefault("_ganstudio_visitor", secrets.token_hex(12))


def start_run_watcher(runs_dir_of) -> None:
    """Once per server: reap finished runs and stop those over their disk share even when no page is open."""
    run_launches.start_watcher(lambda: _latest_limits[0], runs_dir_of)


def stop_button(folder, key: str) -> None:
    """A stop button for a run this visitor started from this server (nobody else's)."""
    owner = visitor_id()
    if run_launches.owned_by(folder, owner):
        st.button("Stop this run", key=key, icon=":material/stop_circle:", on_click=run_launches.stop, args=(folder, owner),
                  help="It saves its state after the current step and pauses; `python -m ganmodels.train --resume` "
                       "continues it.")
