"""The PowerShell an operator types, parsed: statements, pipelines, parameters, values.

Only the part of PowerShell that vTA runbooks use is understood, but that part the way
PowerShell understands it::

    $vTA = Get-TrustAuthorityCluster -Name 'vTA Cluster'
    Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | select *
    Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage ($bm | where Version -eq '8.0.1-21495797')
    $bm | Where-Object {$_.Health -eq 'OK' -and $_.Version -like '8.0.2*'} | ft Version
    Set-TrustAuthorityTpm2AttestationSettings -RequireCertificateValidation:$false

A line is statements separated by ``;``; a statement is an optional ``$var =`` and a
pipeline; a pipeline is stages separated by ``|``; the first stage may be an expression
(``$bm``, ``$bm.Version``, ``$bm[0]``, ``(subpipeline)``, ``(subpipeline).Name``,
``@(subpipeline)`` -- always an array, ``@()`` the empty one --,
``'text'``), every stage a
command: a name, then ``-Param``, ``-Param:value`` and positional values. Values are
barewords (``c:\\img.tgz``: the backslash is no escape in PowerShell), single- or
double-quoted strings (``$var`` expands in double quotes, the backtick escapes), variable
references and ``(subpipelines)`` with ``.Property`` and ``[index]`` (PowerShell's member
access: ``.Count``/``.Length`` of an array, and member enumeration: ``(Get-VMHost).Name`` is
every host's Name), comma lists
(``Name,Version``) and script blocks ``{ $_.Prop -op value }`` for ``Where-Object``.
``#`` starts a comment. Whether ``-Remediate`` takes the next value is not decided here:
only the command knows which of its parameters are switches (see ``commands``).

The parser is pure (text in, syntax tree out) and raises :class:`InputError` naming the
column of a syntax error. Values at run time are plain Python values and :class:`PSObject`
rows; :func:`property_of` reads a property case-insensitively, with PowerShell's member
enumeration over arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vtalab.errors import InputError
from vtalab.training.pwsh.operators import BINARY
from vtalab.world.psformat import PSObject

__all__ = [
    "ArrayExpr",
    "BinaryExpr",
    "Command",
    "Comparison",
    "Condition",
    "Expr",
    "HashLiteral",
    "Number",
    "Param",
    "PSObject",
    "Pipeline",
    "ScriptBlock",
    "Statement",
    "SubExpr",
    "Token",
    "Value",
    "VarRef",
    "parse",
    "property_of",
    "subexpression_end",
    "tokenize",
]

_SEPARATORS = set(" \t|(){},;")
#: How deep ``(...)``, ``$(...)`` and ``{...}`` may nest in one line. No runbook comes
#: near it; it keeps a hostile line (``((((...``) a located syntax error instead of a
#: ``RecursionError`` in the parser or the executor, whose frames per level it bounds.
MAX_NESTING = 32
_IDENT = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def property_of(value: Any, name: str) -> Any:
    """``value.name`` as PowerShell reads it (member enumeration over lists)."""
    if isinstance(value, list):
        if name.lower() in ("count", "length"):
            return len(value)
        out = [property_of(v, name) for v in value]
        return [v for v in out if v is not None]
    if isinstance(value, PSObject):
        if value.key(name) is None and name.lower() == "count":
            return 1  # PowerShell: a single object without a Count property counts 1
        return value.get(name)
    if isinstance(value, str) and name.lower() == "length":
        return len(value)
    if name.lower() == "count" or (value is None and name.lower() == "length"):
        # PowerShell 3+: every single object has a Count of 1, $null a Count and Length of 0
        return 0 if value is None else 1
    if isinstance(value, dict):
        return next((v for k, v in value.items() if str(k).lower() == name.lower()), None)
    return None


# -- tokens --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  #: word | string | var | param | op (one of | ( ) { } , ; =) | end
    text: str
    col: int  #: 1-based column in the line
    #: var: accessors (property names and int indexes); param: value after ``:`` or None
    path: tuple[str | int, ...] = ()
    attached: str | None = None
    expand: bool = False  #: a double-quoted string ($var expands)


#: A number literal (a value where a pipeline starts: ``$n = 5``, ``"$(3)"``)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _err(message: str, col: int, line: str) -> InputError:
    return InputError(f"syntax error at column {col}: {message}",
                      hint=f"in: {line.strip()}")


def tokenize(line: str) -> list[Token]:
    """Split one line into tokens (comments dropped); raise ``InputError`` on bad syntax."""
    out: list[Token] = []
    i, n = 0, len(line)
    opened: list[str] = []  # the open brackets: inside "@{" '=' and ';' separate entries
    while i < n:
        c = line[i]
        col = i + 1
        in_hash = bool(opened) and opened[-1] == "@{"
        if c in " \t\r\n":
            i += 1
        elif c == "#":
            n = i  # the comment ends the line
            break
        elif c == ")":
            # member access on a parenthesised pipeline: (Get-VMHost esx-01).Name
            path, i = _accessors(line, i + 1)
            out.append(Token("op", c, col, path=path))
            if opened:
                opened.pop()
        elif c == "@" and i + 1 < n and line[i + 1] in "({":  # @(...) an array, @{...} a
            out.append(Token("op", "@" + line[i + 1], col))  # hash table
            opened.append("@" + line[i + 1])
            i += 2
        elif c in "|(){},;":
            out.append(Token("op", c, col))
            if c in "({":
                opened.append(c)
            elif c == "}" and opened:
                opened.pop()
            i += 1
        elif c == "=" and (in_hash or (out and out[-1].kind == "var")):
            out.append(Token("op", "=", col))
            i += 1
        elif c in "'\"":
            text, i = _string(line, i)
            out.append(Token("string", text, col, expand=c == '"'))
        elif c == "$":
            j = i + 1
            while j < n and line[j] in _IDENT:
                j += 1
            name = line[i + 1:j]
            if name.lower() in ("global", "script") and j < n and line[j] == ":":
                k = j + 1  # a scope: $global:DefaultVIServers
                while k < n and line[k] in _IDENT:
                    k += 1
                name, j = line[i + 1:k], k
            if not name:
                raise _err("'$' must be followed by a variable name", col, line)
            path, j = _accessors(line, j)
            out.append(Token("var", name, col, path=path))
            i = j
        elif c == "-" and i + 1 < n and line[i + 1].isalpha():
            j = i + 1
            while j < n and line[j] not in _SEPARATORS and line[j] != ":":
                j += 1
            name = line[i + 1:j]
            attached = None
            if j < n and line[j] == ":":
                j += 1
                start = j
                if j < n and line[j] in "'\"":
                    attached, j = _string(line, j)
                else:
                    while j < n and line[j] not in _SEPARATORS:
                        j += 1
                    attached = line[start:j]
            out.append(Token("param", name, col, attached=attached))
            i = j
        else:
            j = i
            while j < n and line[j] not in _SEPARATORS and not (in_hash and line[j] == "="):
                j += 1
            out.append(Token("word", line[i:j], col))
            i = j
    out.append(Token("end", "", n + 1))
    return out


def _accessors(line: str, j: int) -> tuple[tuple[str | int, ...], int]:
    """The ``.Property`` and ``[index]`` accessors written right after a variable name or
    a closing parenthesis (no space between: ``$bm[0].Version``, ``(Get-VMHost).Name``),
    and where they end."""
    n = len(line)
    path: list[str | int] = []
    while j < n and line[j] in ".[":
        if line[j] == ".":
            k = j + 1
            while k < n and line[k] in _IDENT:
                k += 1
            if k == j + 1:
                break
            path.append(line[j + 1:k])
            j = k
        else:
            k = line.find("]", j)
            inner = line[j + 1:k].strip() if k > 0 else ""
            if k < 0 or not inner.lstrip("-").isdigit():
                raise _err("an index must be a number in brackets, e.g. $bm[0]",
                           j + 1, line)
            path.append(int(inner))
            j = k + 1
    return tuple(path), j


def _string(line: str, i: int, depth: int = 0) -> tuple[str, int]:
    """The string starting at ``line[i]`` (a quote) and where it ends. In a double-quoted
    string a subexpression ``$( ... )`` is kept as written (it may hold quotes, strings
    and parentheses of its own) and runs when the string is expanded."""
    quote = line[i]
    buf: list[str] = []
    j = i + 1
    while j < len(line):
        c = line[j]
        if c == "$" and quote == '"' and line.startswith("(", j + 1):
            end = _subexpression_end(line, j + 1, depth + 1)
            buf.append(line[j:end])
            j = end
            continue
        if c == quote:
            if j + 1 < len(line) and line[j + 1] == quote:  # '' or "" is a literal quote
                buf.append(quote)
                j += 2
                continue
            return "".join(buf), j + 1
        if c == "`" and quote == '"' and j + 1 < len(line):
            nxt = line[j + 1]
            buf.append({"n": "\n", "t": "\t", "0": ""}.get(nxt, nxt))
            j += 2
            continue
        buf.append(c)
        j += 1
    raise _err(f"the string starting here has no closing {quote}", i + 1, line)


def subexpression_end(text: str, k: int) -> int:
    """Where the subexpression ``$( ... )`` whose ``(`` is at ``text[k]`` ends (after its
    ``)``) in a double-quoted string's text."""
    return _subexpression_end(text, k, 1)


def _subexpression_end(line: str, k: int, depth: int) -> int:
    """Where the subexpression whose ``(`` is at ``line[k]`` ends (after its ``)``),
    skipping the strings inside it; at most :data:`MAX_NESTING` deep."""
    if depth > MAX_NESTING:
        raise _err(f"subexpressions nest deeper than {MAX_NESTING} levels", k, line)
    level = 0
    j = k
    while j < len(line):
        c = line[j]
        if c in "'\"":
            _, j = _string(line, j, depth)
            continue
        if c == "(":
            level += 1
        elif c == ")":
            level -= 1
            if level == 0:
                return j + 1
        j += 1
    raise _err("the subexpression $( starting here has no closing )", k, line)


# -- syntax tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    """A literal: bareword (``quoted=False``) or quoted string."""

    text: str
    quoted: bool = False
    expand: bool = False  #: double-quoted: ``$var`` inside expands


@dataclass(frozen=True)
class VarRef:
    name: str
    path: tuple[str | int, ...] = ()

    @property
    def text(self) -> str:
        acc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"${self.name}{acc}"


@dataclass(frozen=True)
class SubExpr:
    pipeline: Pipeline
    #: member access on the result: ``(Get-VMHost).Name`` (property names, int indexes)
    path: tuple[str | int, ...] = ()
    #: ``@(...)``: the result is an array even of one item or none (``@()`` is empty)
    array: bool = False


@dataclass(frozen=True)
class ArrayExpr:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Comparison:
    left: Expr  #: usually ``$_.Prop`` (or a bare property name in the simple form)
    op: str | None  #: eq ne like notlike match notmatch gt ge lt le contains; None: truthy
    right: Expr | None


@dataclass(frozen=True)
class Condition:
    """Comparisons joined left to right by ``-and`` / ``-or`` (PowerShell: equal priority)."""

    first: Comparison
    rest: tuple[tuple[str, Comparison], ...] = ()


@dataclass(frozen=True)
class ScriptBlock:
    condition: Condition | None
    #: a block of statements (``{ Write-Host $_.Name }``) instead of a condition
    body: tuple[Statement, ...] = ()
    #: ``foreach ($name in ...) {...}``: the loop variable
    var: str | None = None
    #: the block as written, braces included (a calculated property's default name)
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class HashLiteral:
    """``@{ Name = 'Host'; Expression = { $_.Name } }``: keys and values in order (a
    script block value keeps its own text: a calculated property without a name is named
    by it)."""

    entries: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class Number:
    """A number literal where an expression is expected (``$n = 5``, ``$n + 1``)."""

    text: str


@dataclass(frozen=True)
class BinaryExpr:
    """``left op right``: ``+ - * / %``, ``-f``, ``-join`` (see :mod:`.operators`)."""

    op: str
    left: Expr
    right: Expr


Expr = Value | VarRef | SubExpr | ArrayExpr | ScriptBlock | HashLiteral | Number | BinaryExpr


@dataclass(frozen=True)
class Param:
    name: str
    attached: Expr | None = None  #: the value of ``-Name:value``
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Command:
    name: str
    elements: tuple[Param | Expr, ...] = ()
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Command | Expr, ...]  #: only the first stage may be an expression


@dataclass
class Statement:
    pipeline: Pipeline
    assign: str | None = None  #: variable name of ``$name = ...``
    text: str = ""


COMPARISON_OPS = ("eq", "ne", "like", "notlike", "match", "notmatch", "gt", "ge", "lt", "le",
                  "contains", "notcontains")


class _Parser:
    def __init__(self, line: str) -> None:
        self.line = line
        self.toks = tokenize(line)
        self.i = 0
        self.depth = 0

    def enter(self, tok: Token) -> None:
        """One more level of ``(`` or ``{`` (at ``tok``); refuse beyond MAX_NESTING."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _err(f"{tok.text!r} nests deeper than {MAX_NESTING} levels of (...) and "
                       "{...}; assign an inner pipeline to a variable first", tok.col,
                       self.line)

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, op: str) -> None:
        if not self.at_op(op):
            shown = self.tok.text or "the end of the line"
            raise _err(f"expected '{op}', found {shown!r}", self.tok.col, self.line)
        self.i += 1

    def statements(self, until: str | None = None) -> list[Statement]:
        out = []
        while self.tok.kind != "end" and not (until is not None and self.at_op(until)):
            if self.at_op(";"):
                self.i += 1
                continue
            start = self.tok.col
            if (self.tok.kind == "word" and self.tok.text.lower() == "foreach"
                    and self.toks[self.i + 1].kind == "op" and self.toks[self.i + 1].text == "("):
                out.append(self.foreach_statement())
                continue
            assign = None
            if (self.tok.kind == "var" and not self.tok.path
                    and self.toks[self.i + 1].kind == "op" and self.toks[self.i + 1].text == "="):
                assign = self.tok.text
                self.i += 2
                if self.tok.kind == "end" or self.at_op(";"):
                    raise _err(f"nothing to assign to ${assign}", self.tok.col, self.line)
            pipe = self.pipeline(";", *((until,) if until else ()))
            end = self.tok.col
            out.append(Statement(pipe, assign, self.line[start - 1:end - 1].strip()))
        return out

    def pipeline(self, *closers: str) -> Pipeline:
        stages: list[Command | Expr] = [self.stage(first=True)]
        while self.at_op("|"):
            self.i += 1
            stages.append(self.stage(first=False))
        if not (self.tok.kind == "end" or self.at_op(*closers)):
            raise _err(f"unexpected {self.tok.text!r}", self.tok.col, self.line)
        return Pipeline(tuple(stages))

    def stage(self, first: bool) -> Command | Expr:
        t = self.tok
        if first and t.kind == "word" and _NUMBER.fullmatch(t.text):
            return self.expression()  # a number is a value, not a command: $n = 5
        if t.kind == "word":
            return self.command()
        if first and (t.kind in ("var", "string") or self.at_op("(", "@(", "@{")):
            return self.expression()
        shown = t.text or "the end of the line"
        what = "a command or a value" if first else "a command after '|'"
        raise _err(f"expected {what}, found {shown!r}", t.col, self.line)

    def command(self) -> Command:
        head = self.take()
        elements: list[Param | Expr] = []
        while not (self.tok.kind == "end" or self.at_op("|", ";", ")", "}")):
            t = self.tok
            if t.kind == "param":
                self.i += 1
                attached = None
                if t.attached is not None:
                    attached = _attached(t.attached)
                elements.append(Param(t.text, attached, t.col))
            else:  # a value, a script block, or a list of them ({$_.Version}, Name)
                elements.append(self.value())
        return Command(head.text, tuple(elements), head.col)

    def expression(self, level: int = len(BINARY) - 1) -> Expr:
        """A value with PowerShell's binary operators, by precedence (``BINARY``, the
        tightest first); the operators are words of their own (``$a + 1``)."""
        if level < 0:
            return self._number() or self.value()
        left = self.expression(level - 1)
        while (op := self._operator()) in BINARY[level]:
            op_tok = self.take()
            if self.tok.kind == "end" or self.at_op("|", ";", ")", "}"):
                raise _err(f"you must provide a value expression following the '{op}' "
                           "operator", op_tok.col, self.line)
            left = BinaryExpr(op, left, self.expression(level - 1))
        return left

    def _operator(self) -> str | None:
        t = self.tok
        if t.kind == "word" and t.text in ("+", "-", "*", "/", "%"):
            return t.text
        if t.kind == "param" and t.attached is None and t.text.lower() in ("f", "join"):
            return "-" + t.text.lower()
        return None

    def value(self) -> Expr:
        items = [self.atom()]
        while self.at_op(","):
            self.i += 1
            items.append(self.atom())
        return items[0] if len(items) == 1 else ArrayExpr(tuple(items))

    def atom(self) -> Expr:
        t = self.tok
        if t.kind == "word":
            self.i += 1
            return Value(t.text)
        if t.kind == "string":
            self.i += 1
            return Value(t.text, quoted=True, expand=t.expand)
        if t.kind == "var":
            self.i += 1
            return VarRef(t.text, t.path)
        if self.at_op("@{"):
            return self.hash_literal()
        if self.at_op("{"):
            return self.block()
        if self.at_op("(", "@("):
            self.enter(t)
            self.i += 1
            array = t.text == "@("
            inner = Pipeline(()) if array and self.at_op(")") else self.pipeline(")")
            close = self.tok
            self.expect(")")
            self.depth -= 1
            return SubExpr(inner, close.path, array)
        shown = t.text or "the end of the line"
        raise _err(f"expected a value, found {shown!r}", t.col, self.line)

    def hash_literal(self) -> HashLiteral:
        """``@{ key = value; key = { block } }`` (``;`` or a new line between entries)."""
        self.enter(self.tok)
        self.i += 1
        entries: list[tuple[str, Expr]] = []
        while not self.at_op("}"):
            if self.at_op(";"):
                self.i += 1
                continue
            key = self.tok
            if key.kind not in ("word", "string"):
                shown = key.text or "the end of the line"
                raise _err(f"expected a key of the hash table, found {shown!r}", key.col,
                           self.line)
            self.i += 1
            self.expect("=")
            entries.append((key.text, self.block() if self.at_op("{") else self.value()))
            if not self.at_op(";", "}"):
                shown = self.tok.text or "the end of the line"
                raise _err(f"expected ';' or '}}' in the hash table, found {shown!r}",
                           self.tok.col, self.line)
        self.expect("}")
        self.depth -= 1
        return HashLiteral(tuple(entries))

    def foreach_statement(self) -> Statement:
        """``foreach ($x in <value>) { ... }`` as ``<value> | ForEach-Object`` with ``$x``."""
        start = self.take().col
        self.expect("(")
        if self.tok.kind != "var" or self.tok.path:
            raise _err("foreach needs a loop variable: foreach ($x in $list) { ... }",
                       self.tok.col, self.line)
        var = self.take().text
        if not (self.tok.kind == "word" and self.tok.text.lower() == "in"):
            raise _err("expected 'in' after the loop variable", self.tok.col, self.line)
        self.i += 1
        source = self.value()
        self.expect(")")
        body = self.block(statements=True)
        loop = ScriptBlock(None, body.body, var)
        end = self.tok.col
        return Statement(Pipeline((source, Command("ForEach-Object", (loop,), start))),
                         None, self.line[start - 1:end - 1].strip())

    def block(self, statements: bool = False) -> ScriptBlock:
        self.enter(self.tok)
        start = self.tok.col
        self.expect("{")
        if statements or self.tok.kind == "word" or self.at_op("}"):
            body = self.statements(until="}")
            self.expect("}")
            self.depth -= 1
            return ScriptBlock(None, tuple(body), text=self._since(start))
        first = self.comparison()
        rest = []
        while self.tok.kind == "param" and self.tok.text.lower() in ("and", "or"):
            joiner = self.take().text.lower()
            rest.append((joiner, self.comparison()))
        self.expect("}")
        self.depth -= 1
        return ScriptBlock(Condition(first, tuple(rest)), text=self._since(start))

    def _since(self, col: int) -> str:
        """The line's text from column ``col`` up to the current token."""
        return self.line[col - 1:self.toks[self.i - 1].col].strip()

    def comparison(self) -> Comparison:
        left = self._compared()
        if self.tok.kind == "param" and self.tok.text.lower() in COMPARISON_OPS:
            op = self.take().text.lower()
            return Comparison(left, op, self._compared())
        return Comparison(left, None, None)

    def _compared(self) -> Expr:
        """A comparison's side: a number is a number (``$true -eq 0`` compares with 0,
        not with the text '0'), anything else a value."""
        return self._number() or self.atom()

    def _number(self) -> Number | None:
        """A number literal where an expression or a comparison's side starts (taken),
        else ``None`` (nothing taken)."""
        if self.tok.kind == "word" and _NUMBER.fullmatch(self.tok.text):
            return Number(self.take().text)
        return None


def _attached(text: str) -> Expr:
    if text.startswith("$"):
        toks = tokenize(text)
        if toks[0].kind == "var" and toks[1].kind == "end":
            return VarRef(toks[0].text, toks[0].path)
    return Value(text)


def parse(line: str) -> list[Statement]:
    """The statements of one line (empty for a blank line or a comment)."""
    return _Parser(line).statements()
