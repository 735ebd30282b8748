"""Which database errors mean "out of reach" (no transaction can run now: a group commit stops
retrying its events one by one) and which are one transaction's trouble (retry it)."""

import asyncpg
import sqlalchemy.exc

from app.kit.problems import database_out_of_reach, unexpected_problem


def wrapped(orig: BaseException) -> sqlalchemy.exc.OperationalError:
    """As SQLAlchemy raises a driver's error."""
    return sqlalchemy.exc.OperationalError("COMMIT", {}, orig)


def test_a_lost_connection_or_a_refused_one_is_out_of_reach() -> None:
    assert database_out_of_reach(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    assert database_out_of_reach(ConnectionRefusedError(111, "connect call failed"))
    assert database_out_of_reach(wrapped(asyncpg.exceptions.TooManyConnectionsError("full")))


def test_a_deadlock_or_a_timeout_is_one_transactions_trouble_even_wrapped() -> None:
    for error in (
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ):
        assert not database_out_of_reach(error)
        problem, headers = unexpected_problem(error, "POST", "/v1/events")
        assert (problem.status, headers) == (503, {"Retry-After": "2"})  # still: retry later


def test_a_bug_is_neither() -> None:
    assert not database_out_of_reach(ValueError("a bug"))
    problem, _ = unexpected_problem(ValueError("a bug"), "POST", "/v1/events")
    assert problem.status == 500
