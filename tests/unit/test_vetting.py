"""Which RQ jobs a worker runs: exactly one scan, and nothing an RQ job names by itself."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from redis import Redis
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.queue import dispatch
from worker.queue.vetting import TASK, RefusedJob, VettedJob, refusal
from worker.task import run_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"
#: A client that is never connected: building jobs sends no command.
OFFLINE = Redis(host="127.0.0.1", port=1)


def _job(func: str = TASK, *args: Any, **options: Any) -> Job:
    return VettedJob.create(
        func, args=args or (SCAN_ID,), connection=OFFLINE, serializer=JSONSerializer, **options
    )


def test_the_task_dispatched_is_the_task_vetted() -> None:
    assert dispatch.TASK == TASK == "worker.task.run_scan"


def test_one_scan_passes_and_resolves_to_the_task_itself() -> None:
    job = _job()
    assert refusal(job) is None
    assert job.func is run_scan


@pytest.mark.parametrize(
    ("func", "args", "kwargs", "reason"),
    [
        ("os.system", ("touch /tmp/x",), {}, "it names 'os.system'"),
        ("subprocess.check_call", (["true"],), {}, "it names 'subprocess.check_call'"),
        ("builtins.eval", ("1",), {}, "it names 'builtins.eval'"),
        ("worker.task.run_scan.__globals__", (SCAN_ID,), {}, "it names"),
        (TASK, (SCAN_ID, "more"), {}, "exactly one argument"),
        (TASK, ("../../etc",), {}, "not a scan job id"),
        (TASK, (SCAN_ID.upper(),), {}, "not a scan job id"),
        (TASK, (1,), {}, "not a scan job id"),
        (TASK, (SCAN_ID,), {"force": True}, "keyword arguments"),
    ],
)
def test_anything_else_is_refused(
    func: str, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str
) -> None:
    job = VettedJob.create(
        func, args=args, kwargs=kwargs, connection=OFFLINE, serializer=JSONSerializer
    )
    refused = refusal(job)
    assert refused is not None
    assert reason in refused
    with pytest.raises(RefusedJob) as raised:
        _ = job.func
    assert raised.value.rq_id == job.id


@pytest.mark.parametrize("kind", ["success", "failure", "stopped"])
def test_a_job_with_a_callback_is_refused_and_its_callback_never_resolved(kind: str) -> None:
    options: dict[str, Any] = {f"on_{kind}": Callback("os.system")}
    job = _job(TASK, SCAN_ID, **options)
    assert refusal(job) == f"it has a {kind} callback"
    assert getattr(job, f"{kind}_callback") is None


def test_a_job_with_dependencies_is_refused() -> None:
    job = _job(depends_on=["f" * 32])
    assert refusal(job) == "it depends on other jobs"


def test_data_of_another_serializer_or_shape_is_refused() -> None:
    job = _job()
    job._data = pickle.dumps((TASK, None, [SCAN_ID], {}))
    assert refusal(job) == "its data is not the JSON serializer's"
    job._data = b'{"func": "worker.task.run_scan"}'
    assert refusal(job) == "its data is not [function, instance, args, kwargs]"
    job._data = b'["worker.task.run_scan", {"self": 1}, ["' + SCAN_ID.encode() + b'"], {}]'
    assert refusal(job) == "it names a method of an instance"
