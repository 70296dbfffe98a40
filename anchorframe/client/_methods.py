"""How one description of an endpoint becomes a method of both clients.

Each endpoint is described once (``_client._Endpoints``): a method with the public
signature and docstring whose body only builds the call's flow. :class:`endpoint` (a
call) and :class:`listing` (every item of a paged listing) turn it into a descriptor.
Read from a client that runs flows with :class:`SyncDriver`, it is a plain method that
returns the result (or an iterator); from one with :class:`AsyncDriver`, a coroutine
method (or an async iterator). The overloads of ``__get__`` give type checkers and IDEs
the described parameters with the right return type on each client, as if the method
were written out on both; at run time each client class gets a real function with
that signature, its own name and a docstring, made on first use.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

from ._drivers import AsyncDriver, SyncDriver
from ._flows import Emit, Flow, Items

__all__ = ["endpoint", "listing"]

P = ParamSpec("P")
T = TypeVar("T")

# The async methods' docstrings point to the sync client's, which carry the examples.
_SYNC_CLIENT = "AnchorClient"


class _Described:
    """What both kinds of endpoint share: one function per client class, made on first use."""

    _async_note = ""

    def __init__(self, describe: Callable[..., Any]) -> None:
        self._describe = describe
        self._name = describe.__name__
        self.__doc__ = describe.__doc__
        self._methods: dict[type, Callable[..., Any]] = {}

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def _bind(self, client: Any, owner: type) -> Any:
        method = self._methods.get(owner)
        if method is None:
            if not issubclass(owner, (SyncDriver, AsyncDriver)):
                return self  # read from the class that holds the descriptions
            method = self._methods[owner] = self._method_for(owner)
        return method if client is None else MethodType(method, client)

    def _method_for(self, owner: type) -> Callable[..., Any]:
        describe = self._describe
        is_async = issubclass(owner, AsyncDriver)
        hints = typing.get_type_hints(describe)
        described = inspect.signature(describe)
        parameters = [
            p.replace(annotation=hints.get(p.name, p.annotation)) for p in described.parameters.values()
        ]
        returns = self._returns(hints["return"], is_async)
        method = self._make(describe, is_async)
        method.__signature__ = described.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=returns
        )
        method.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
        method.__annotations__["return"] = returns
        method.__name__ = self._name
        method.__qualname__ = f"{owner.__qualname__}.{self._name}"
        method.__module__ = describe.__module__
        method.__doc__ = (
            f"See :meth:`{_SYNC_CLIENT}.{self._name}`{self._async_note}." if is_async else describe.__doc__
        )
        method.__wrapped__ = describe  # type: ignore[attr-defined]  # so that getsource shows the description
        return method

    @staticmethod
    def _make(describe: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def _returns(described: Any, is_async: bool) -> Any:
        raise NotImplementedError  # pragma: no cover


class endpoint(_Described, Generic[P, T]):
    """A call: the sync client returns its result, the async client a coroutine of it."""

    def __init__(self, describe: Callable[Concatenate[Any, P], Flow[T]]) -> None:
        super().__init__(describe)

    @staticmethod
    def _make(describe: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        if is_async:

            async def run_async(client: AsyncDriver, /, *args: Any, **kwargs: Any) -> Any:
                return await client._run(describe(client, *args, **kwargs))

            return run_async

        def run(client: SyncDriver, /, *args: Any, **kwargs: Any) -> Any:
            return client._run(describe(client, *args, **kwargs))

        return run

    @staticmethod
    def _returns(described: Any, is_async: bool) -> Any:
        return typing.get_args(described)[2]  # Batch from Flow[Batch], a Generator[Op, Any, Batch]

    @overload
    def __get__(self, client: None, owner: type[SyncDriver]) -> Callable[Concatenate[SyncDriver, P], T]: ...
    @overload
    def __get__(
        self, client: None, owner: type[AsyncDriver]
    ) -> Callable[Concatenate[AsyncDriver, P], Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: SyncDriver, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncDriver, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self._bind(client, owner)


class listing(_Described, Generic[P, T]):
    """Every item of a paged listing: an iterator on the sync client, an async iterator on the async one."""

    _async_note = " (use with ``async for``)"

    def __init__(self, describe: Callable[Concatenate[Any, P], Items[T]]) -> None:
        super().__init__(describe)

    @staticmethod
    def _make(describe: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        def iterate(client: SyncDriver | AsyncDriver, /, *args: Any, **kwargs: Any) -> Any:
            return client._iterate(describe(client, *args, **kwargs))

        return iterate

    @staticmethod
    def _returns(described: Any, is_async: bool) -> Any:
        # Items[X] is a Generator whose yield type is Send | Sleep | Notify | Emit[X].
        yielded = typing.get_args(typing.get_args(described)[0])
        item = next(typing.get_args(op)[0] for op in yielded if typing.get_origin(op) is Emit)
        return cast(Any, AsyncIterator if is_async else Iterator)[item]

    @overload
    def __get__(
        self, client: None, owner: type[SyncDriver]
    ) -> Callable[Concatenate[SyncDriver, P], Iterator[T]]: ...
    @overload
    def __get__(
        self, client: None, owner: type[AsyncDriver]
    ) -> Callable[Concatenate[AsyncDriver, P], AsyncIterator[T]]: ...
    @overload
    def __get__(self, client: SyncDriver, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncDriver, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self._bind(client, owner)
