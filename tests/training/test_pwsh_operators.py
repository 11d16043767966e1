"""PowerShell's expression operators in the training shell: ``+ - * / %``, ``-f``,
``-join``, with PowerShell's precedence, and bounded.

Was: ``$n = 5`` said "the term '5' is not recognized", ``"{0} runs {1}" -f $h.Name,
$h.Version`` was a syntax error ("unexpected 'f'") and ``"C:\\exports\\" + $h.Name``
one too.
"""

from __future__ import annotations

import pytest

from vtalab.errors import InputError
from vtalab.training.pwsh.operators import MAX_LENGTH, apply, format_string
from vtalab.training.session import Session


@pytest.fixture(scope="module")
def session(pwsh_session: Session) -> Session:
    return pwsh_session


@pytest.mark.parametrize("line,text", [
    ("1 + 2 * 3", "7"),  # * before +
    ("(1 + 2) * 3", "9"),
    ("10 - 2 - 3", "5"),  # left to right
    ("7 / 2", "3.5"),
    ("6 / 3", "2"),
    ("7 % 3", "1"),
    ("'ab' * 3", "ababab"),
    ("'a' + 'b' + 1", "ab1"),  # text on the left: joins
    ("1 + '2'", "3"),  # a number on the left: adds
    ('"{0} runs {1}" -f $h.Name, $h.Version', "esx-03 runs 8.0.3"),
    ('"[{0,-7}][{1,6}]" -f $h.Name, $h.Version', "[esx-03 ][ 8.0.3]"),
    ('"{0:N1} GB" -f 1234.567', "1,234.6 GB"),
    ('"{0:D4}" -f 42', "0042"),
    ('"{0:X}" -f 255', "FF"),
    ('"{{0}} is {0}" -f 1', "{0} is 1"),
    ('"{0}" -f 1 + 1', "11"),  # -f binds tighter than +
    ("(Get-VMHost esx-0*).Name -join ','", "esx-01,esx-02,esx-03"),
    ('"C:\\exports\\" + $h.Name + ".tgz"', "C:\\exports\\esx-03.tgz"),
    ("$n = 5; $n = $n * 2 + 1; $n", "11"),
    ("Get-VMHost ('esx-0' + '2') | Select-Object -ExpandProperty Name", "esx-02"),
])
def test_operators_evaluate_as_powershell(session: Session, line: str, text: str) -> None:
    reply = session.run(line)
    assert reply.ok, reply.text
    assert reply.text == text


@pytest.mark.parametrize("line,needle", [
    ("1 / 0", "Attempted to divide by zero."),
    ('"{1}" -f "a"', "Index (zero based) must be greater than or equal to zero"),
    ('"{0" -f "a"', "Input string was not in a correct format."),
    ("'x' * 2000000", "the lab allows at most 1,000,000"),
    ("'a' * -1", "repeats a whole number of times"),
    ("$h + 1", "Cannot convert value"),
    ("1 +", "you must provide a value expression following the '+' operator"),
    ("$s = 'x' * 900000; $s + $s", "the lab allows at most 1,000,000"),
])
def test_bad_operands_are_errors_never_tracebacks(session: Session, line: str,
                                                  needle: str) -> None:
    reply = session.run(line)
    assert not reply.ok and needle in reply.text, reply.text[:300]


def test_operators_alone_are_pure_and_bounded() -> None:
    assert apply("+", [1], 2) == [1, 2]
    assert apply("+", None, "x") == "x"
    assert apply("-join", ["a", "b"], "-") == "a-b"
    assert format_string("{0,3}{1,-3}|", ["a", "b"]) == "  ab  |"
    with pytest.raises(InputError):
        format_string("{0,99999}", ["a"])
    with pytest.raises(InputError):
        apply("*", [0], MAX_LENGTH + 1)


@pytest.mark.parametrize("condition,count", [
    ("$true -eq 1", 4), ("$true -eq 'False'", 4), ("$false -eq 0", 4), ("$false -eq ''", 4),
    ("$true -eq 0", 0), ("$false -eq 'x'", 0), ("$true -ne $false", 4),
])
def test_a_boolean_on_the_left_compares_as_powershells_bool(session: Session,
                                                             condition: str,
                                                             count: int) -> None:
    """PowerShell converts the right side to the left's type: ``$true -eq 1`` and (its
    well-known trap) ``$true -eq 'False'`` are true. The lab compared them as text."""
    reply = session.run(f"(Get-VMHost | Where-Object {{ {condition} }}).Count")
    assert reply.ok, reply.text
    assert int(reply.text) == count
