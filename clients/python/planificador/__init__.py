"""Python client of planificador: run untrusted code in the daemon's sandboxes over ZeroMQ.

    from planificador import Client
    with Client() as client:  # the daemon's client endpoint, tcp://127.0.0.1:5559
        print(client.run("python", "print('hello')").text)
"""

from .aio import AsyncClient, AsyncTask
from .client import Client, Task
from .curve import CurveKeys
from .errors import ClientClosed, ConnectionLost, PlanificadorError, Unreachable
from .protocol import new_task_id
from .result import Result

__all__ = [
    "AsyncClient",
    "AsyncTask",
    "Client",
    "ClientClosed",
    "ConnectionLost",
    "CurveKeys",
    "PlanificadorError",
    "Result",
    "Task",
    "Unreachable",
    "new_task_id",
]
__version__ = "0.1.0"
