"""The dunder methods Python calls without naming them, by the kind of operation, for `grading.mechanism.dunders`.

`p[k]` may call `__getitem__`, `for q in p` `__iter__`, `p + q` `__add__` or `__radd__`, `sorted(p)` `__lt__`,
a library function given an object any of them (`GENERIC_DUNDERS`). The names of built-in functions and methods
that return plain numbers or built-in containers let the graph see operands that run no student code.
"""

from __future__ import annotations

import ast

# The dunder methods each kind of operation may call implicitly.
ATTRIBUTE_DUNDERS = frozenset({"__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__get__", "__set__",
                               "__delete__", "__set_name__", "__dir__"})
ITERATION_DUNDERS = frozenset({"__iter__", "__next__", "__getitem__", "__len__", "__length_hint__", "__reversed__",
                               "__aiter__", "__anext__"})
HASH_DUNDERS = frozenset({"__hash__", "__eq__", "__ne__"})
COMPARISON_DUNDERS = frozenset({"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__"})
TRUTH_DUNDERS = frozenset({"__bool__", "__len__"})
ITEM_DUNDERS = frozenset({"__getitem__", "__setitem__", "__delitem__", "__missing__", "__class_getitem__",
                          "__index__", "__hash__", "__eq__"})
CONTAINMENT_DUNDERS = frozenset({"__contains__"}) | ITERATION_DUNDERS | HASH_DUNDERS
FORMAT_DUNDERS = frozenset({"__format__", "__str__", "__repr__"})
CONVERSION_DUNDERS = frozenset({"__int__", "__float__", "__complex__", "__index__", "__round__", "__trunc__",
                                "__floor__", "__ceil__", "__abs__", "__bytes__", "__fspath__"}) | TRUTH_DUNDERS
COPY_DUNDERS = frozenset({"__copy__", "__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__",
                          "__getnewargs__", "__getnewargs_ex__", "__sizeof__"})
CONTEXT_DUNDERS = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__"})
CONSTRUCTION_DUNDERS = frozenset({"__new__", "__init__", "__post_init__", "__init_subclass__", "__instancecheck__",
                                  "__subclasscheck__"})
BINARY_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.MatMult: "matmul", ast.Div: "truediv",
                    ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow", ast.LShift: "lshift",
                    ast.RShift: "rshift", ast.BitOr: "or", ast.BitXor: "xor", ast.BitAnd: "and"}
UNARY_DUNDERS = {ast.USub: frozenset({"__neg__"}), ast.UAdd: frozenset({"__pos__"}),
                 ast.Invert: frozenset({"__invert__"}), ast.Not: TRUTH_DUNDERS}
ARITHMETIC_DUNDERS = frozenset({f"__{p}{op}__" for op in BINARY_OPERATORS.values() for p in ("", "r", "i")}
                               | {"__neg__", "__pos__", "__invert__", "__abs__"})
GENERIC_DUNDERS = (ATTRIBUTE_DUNDERS | ITERATION_DUNDERS | HASH_DUNDERS | COMPARISON_DUNDERS | FORMAT_DUNDERS
                   | CONVERSION_DUNDERS | COPY_DUNDERS | ARITHMETIC_DUNDERS)  # a library given an object
BUILTIN_PROTOCOLS = {
    **dict.fromkeys(("str", "repr", "format", "print", "ascii"), FORMAT_DUNDERS), "hash": HASH_DUNDERS,
    "len": TRUTH_DUNDERS,
    **dict.fromkeys(("iter", "next", "list", "tuple", "enumerate", "zip", "map", "filter", "reversed", "any",
                     "all"), ITERATION_DUNDERS | TRUTH_DUNDERS),
    **dict.fromkeys(("set", "frozenset", "dict"), ITERATION_DUNDERS | HASH_DUNDERS),
    "sum": ITERATION_DUNDERS | {"__add__", "__radd__"},
    **dict.fromkeys(("sorted", "min", "max"), ITERATION_DUNDERS | COMPARISON_DUNDERS),
    **dict.fromkeys(("abs", "int", "float", "complex", "round", "bool", "bin", "hex", "oct", "chr", "range"),
                    CONVERSION_DUNDERS),
    "divmod": frozenset({"__divmod__", "__rdivmod__"}), "pow": frozenset({"__pow__", "__rpow__"}),
    **dict.fromkeys(("getattr", "hasattr", "setattr", "delattr", "dir"), ATTRIBUTE_DUNDERS),
    **dict.fromkeys(("isinstance", "issubclass"), CONSTRUCTION_DUNDERS | ATTRIBUTE_DUNDERS),
    **dict.fromkeys(("id", "type", "callable"), frozenset()),
}
# Built-in functions and methods whose results run no student code.
SCALAR_BUILTINS = frozenset({"len", "id", "int", "float", "bool", "hash", "isinstance", "issubclass", "callable",
                             "ord"})
CONTAINER_BUILTINS = frozenset({"list", "tuple", "set", "frozenset", "dict", "sorted", "reversed", "range",
                                "enumerate", "zip", "map", "filter", "deque", "defaultdict", "OrderedDict",
                                "Counter"})
# Methods of lists, sets, dicts and deques: `stack.pop()` reaches no escaped function (student functions of these
# names are still reached by name).
COMMON_METHODS = frozenset({
    "append", "appendleft", "pop", "popleft", "extend", "extendleft", "add", "discard", "remove", "insert", "index",
    "count", "copy", "clear", "get", "setdefault", "items", "keys", "values", "update", "sort", "reverse",
    "difference", "union", "intersection", "issubset", "issuperset", "rotate", "join", "split",
})
SAFE_DECORATORS = frozenset({"staticmethod", "classmethod", "property", "setter", "getter", "deleter", "cache",
                             "lru_cache", "cached_property", "add_method"})
