"""Asks the window titled ARGV[1] to close, as a window manager's close button does
(WM_DELETE_WINDOW), then prints whether it is still mapped: "viewable", "unmapped" or
"gone". Usage: python3 close_window.py TITLE"""
import sys
import time

from Xlib import X, display, error, protocol


def windows(w):
    yield w
    for c in w.query_tree().children:
        yield from windows(c)


def titled(d, title):
    for w in windows(d.screen().root):
        try:
            if w.get_wm_name() == title and w.get_attributes().map_state == X.IsViewable:
                return w
        except error.BadWindow:
            continue
    return None


d = display.Display()
title = sys.argv[1]
w = titled(d, title)
if w is None:
    print("no viewable window titled", title)
    sys.exit(2)
protocols = d.intern_atom("WM_PROTOCOLS")
delete = d.intern_atom("WM_DELETE_WINDOW")
w.send_event(
    protocol.event.ClientMessage(window=w, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])),
    event_mask=X.NoEventMask,
)
d.flush()
time.sleep(2)
try:
    state = w.get_attributes().map_state
    print("viewable" if state == X.IsViewable else "unmapped")
except error.BadWindow:
    print("gone")
