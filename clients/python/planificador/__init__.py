"""Python client of planificador: run untrusted code in the daemon's sandboxes over ZeroMQ.

    from planificador import Client
    with Client() as client:
        print(client.run("python", "print('hello')").text)
"""

from .aio import AsyncClient, AsyncTask
from .client import Client, Task
from .errors import ClientClosed, PlanificadorError, Unreachable
from .protocol import new_task_id
from .result import Result

__all__ = [
    "AsyncClient",
    "AsyncTask",
    "Client",
    "ClientClosed",
    "PlanificadorError",
    "Result",
    "Task",
    "Unreachable",
    "new_task_id",
]
__version__ = "0.1.0"
