# Asks for one inotify instance and one POSIX message queue, as any program may.
import ctypes
import ctypes.util
import os

libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
print("inotify:", "ok" if fd >= 0 else "refused " + os.strerror(ctypes.get_errno()))

librt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)


class MqAttr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long),
                ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long),
                ("reserved", ctypes.c_long * 4)]


librt.mq_open.restype = ctypes.c_int
librt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(MqAttr)]
attr = MqAttr(0, 10, 8192, 0)
queue = librt.mq_open(b"/probe", os.O_CREAT | os.O_RDWR, 0o600, ctypes.byref(attr))
print("mqueue:", "ok" if queue >= 0 else "refused " + os.strerror(ctypes.get_errno()))
