"""The PowerShell subset: tokens, statements, pipelines, values, and its formatting."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vtalab.errors import InputError
from vtalab.training.pwsh import format as fmt
from vtalab.training.pwsh.filters import compare
from vtalab.training.pwsh.parser import (
    ArrayExpr,
    Command,
    Param,
    PSObject,
    ScriptBlock,
    SubExpr,
    Value,
    VarRef,
    parse,
    property_of,
)


def test_assignment_with_quoted_name() -> None:
    [st_] = parse("$vTA = Get-TrustAuthorityCluster -Name 'vTA Cluster'")
    assert st_.assign == "vTA"
    [cmd] = st_.pipeline.stages
    assert cmd == Command("Get-TrustAuthorityCluster",
                          (Param("Name", None, 33), Value("vTA Cluster", quoted=True)), 8)


def test_pipeline_with_select_star_and_positional_variable() -> None:
    [st_] = parse("Get-TrustAuthorityVMHostBaseImage $vTA | select *")
    first, second = st_.pipeline.stages
    assert isinstance(first, Command) and first.elements == (VarRef("vTA"),)
    assert isinstance(second, Command) and second.name == "select"
    assert second.elements == (Value("*"),)


def test_expression_first_stage_and_accessors() -> None:
    [st_] = parse("$bm[0].Version | ft")
    assert st_.pipeline.stages[0] == VarRef("bm", (0, "Version"))
    assert VarRef("bm", (0, "Version")).text == "$bm[0].Version"


def test_backslash_is_not_an_escape_and_backtick_is() -> None:
    [st_] = parse('Export-VMHostImageDb -VMHost esx-01 -FilePath c:\\img.tgz "a`tb"')
    cmd = st_.pipeline.stages[0]
    assert Value("c:\\img.tgz") in cmd.elements  # type: ignore[union-attr]
    assert Value("a\tb", quoted=True, expand=True) in cmd.elements  # type: ignore[union-attr]


def test_subexpression_where_simple_form() -> None:
    [st_] = parse("Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage "
                  "($bm | where Version -eq '8.0.1-21495797')")
    cmd = st_.pipeline.stages[0]
    sub = cmd.elements[1]  # type: ignore[union-attr]
    assert isinstance(sub, SubExpr)
    where = sub.pipeline.stages[1]
    assert where == Command("where", (Value("Version"), Param("eq", None, 70),
                                      Value("8.0.1-21495797", quoted=True)), 64)


def test_script_block_with_and() -> None:
    [st_] = parse("$h | Where-Object {$_.Status -eq 'OK' -and $_.Name -like 'esx*'}")
    block = st_.pipeline.stages[1].elements[0]  # type: ignore[union-attr]
    assert isinstance(block, ScriptBlock)
    assert block.condition.first.left == VarRef("_", ("Status",))
    assert block.condition.rest[0][0] == "and"


def test_switch_with_attached_value_and_comma_list() -> None:
    [st_] = parse("Set-X -Force:$false | select Name,Version")
    cmd, sel = st_.pipeline.stages
    assert cmd.elements == (Param("Force", VarRef("false"), 7),)  # type: ignore[union-attr]
    assert sel.elements == (ArrayExpr((Value("Name"), Value("Version"))),)  # type: ignore[union-attr]


def test_negative_number_is_a_value_not_a_parameter() -> None:
    [st_] = parse("clock-skew -VMHost esx-01 -Seconds -30")
    assert st_.pipeline.stages[0].elements[-1] == Value("-30")  # type: ignore[union-attr]


def test_statements_comments_and_blank() -> None:
    assert parse("   ") == [] and parse("# only a comment") == []
    assert [s.text for s in parse("time; hosts  # look")] == ["time", "hosts"]


@pytest.mark.parametrize(("line", "column"), [
    ("Get-X 'open", 7), ("Get-X |", 8), ("Get-X (a", 9), ("$ = 1", 1), ("| x", 1),
    ("$x =", 5), ("Get-X $a[b]", 9),
])
def test_syntax_errors_name_the_column(line: str, column: int) -> None:
    with pytest.raises(InputError, match=f"column {column}"):
        parse(line)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.text(alphabet="ab$-'\"|(){},;=#`: \\.[]0_", max_size=30))
def test_parser_never_crashes(line: str) -> None:
    with contextlib.suppress(InputError):  # a located syntax error is fine; a crash is not
        parse(line)


def test_property_reads_are_case_insensitive_with_member_enumeration() -> None:
    objs = [PSObject("T", {"Version": "1"}), PSObject("T", {"Version": "2"})]
    assert property_of(objs, "version") == ["1", "2"]
    assert property_of(objs, "Count") == 2
    assert property_of(objs[0], "missing") is None


@pytest.mark.parametrize(("left", "op", "right", "expected"), [
    ("OK", "eq", "ok", True), ("10", "gt", "9", True), ("b", "gt", "a", True),
    ("8.0.2-1", "like", "8.0.2*", True), ("esx-01", "match", r"^esx-\d+$", True),
    (["a", "b"], "contains", "B", True), (["a", "b"], "eq", "b", True),
    (None, "eq", "", True), ("OK", "ne", "OK", False), (True, "eq", "true", True),
])
def test_comparisons_follow_powershell(left: object, op: str, right: object,
                                       expected: bool) -> None:
    assert compare(left, op, right) is expected


def test_table_format_is_powershell_like() -> None:
    rows = [PSObject("X", {"Version": "8.0.1-21495797", "Health": "OK", "Count": 12,
                           "Hosts": ["a", "b"], "Last": None}),
            PSObject("X", {"Version": "8.0.2", "Health": "WARNING", "Count": 3,
                           "Hosts": [], "Last": True})]
    assert fmt.table(rows).split("\n") == [
        "Version        Health  Count Hosts  Last",
        "-------        ------  ----- -----  ----",
        "8.0.1-21495797 OK         12 {a, b}",
        "8.0.2          WARNING     3 {}     True",
    ]


def test_list_format_and_render_rules() -> None:
    obj = PSObject("X", {"Name": "a", "LongerName": 1.5})
    assert fmt.listing([obj]) == "Name       : a\nLongerName : 1.5"
    wide = PSObject("Selected.X", {k: 1 for k in "abcde"}, view="auto")
    assert fmt.render([wide]).startswith("a : 1")  # more than 4 properties: a list
    assert fmt.render(["x", "y", PSObject("Y", {"N": 1})]) == "x\ny\n\nN\n-\n1"
    assert fmt.json_text([obj]) == '{\n  "Name": "a",\n  "LongerName": 1.5\n}'


def test_member_access_on_a_parenthesised_pipeline() -> None:
    [st_] = parse("(Get-TrustAuthorityCluster -Name vTA).Id")
    [stage] = st_.pipeline.stages
    assert isinstance(stage, SubExpr) and stage.path == ("Id",)
    [inner] = stage.pipeline.stages
    assert isinstance(inner, Command) and inner.name == "Get-TrustAuthorityCluster"
    [st_] = parse("(Get-VMHost)[1].Name.Length | ft")
    assert st_.pipeline.stages[0].path == (1, "Name", "Length")  # type: ignore[union-attr]
    # as a parameter value, and nested
    [st_] = parse("Get-VMHost -Name ((Get-VMHost)[0]).Name")
    [value] = [e for e in st_.pipeline.stages[0].elements  # type: ignore[union-attr]
               if isinstance(e, SubExpr)]
    assert value.path == ("Name",) and value.pipeline.stages[0].path == (0,)  # type: ignore
    # a space ends the member access: `(x) .Name` is a value and a bareword
    [st_] = parse("Write-Host (Get-VMHost) .Name")
    elements = st_.pipeline.stages[0].elements  # type: ignore[union-attr]
    assert elements[0] == SubExpr(elements[0].pipeline) and elements[1] == Value(".Name")  # type: ignore


def test_member_access_index_must_be_a_number() -> None:
    with pytest.raises(InputError, match="column 13"):
        parse("(Get-VMHost)[x]")


def test_count_and_length_of_null_single_and_array() -> None:
    assert property_of(None, "Count") == 0 and property_of(None, "Length") == 0
    assert property_of(PSObject("VMHost", {"Name": "esx-01"}), "count") == 1
    assert property_of(["a", "b"], "Length") == 2
    assert property_of("esx-01", "Length") == 6
