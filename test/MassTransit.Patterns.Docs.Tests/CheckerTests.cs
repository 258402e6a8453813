namespace MassTransit.Patterns.Docs.Tests;

/// <summary>The checker itself, on a throwaway repository: it names the doc, the snippet id and the first differing line,
/// refuses a C# block without a marker, leaves other languages alone, and the rewrite makes a doc match.</summary>
public sealed class CheckerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("docs-check-").FullName;

    public CheckerTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "docs", "snippets"));
        File.WriteAllText(Path.Combine(_root, "docs", "snippets", "A.cs"),
            "class A\n{\n    void M()\n    {\n        // begin-snippet: a-one\n        var x = 1;\n        if (x > 0)\n            x++;\n        // end-snippet\n    }\n}\n");
    }

    public void Dispose() => Directory.Delete(_root, true);

    private IReadOnlyList<string> Check(string markdown)
    {
        File.WriteAllText(Path.Combine(_root, "README.md"), markdown);
        return DocSnippets.Problems(_root, "README.md", DocSnippets.Snippets(_root));
    }

    [Fact]
    public void A_marked_block_equal_to_its_dedented_snippet_passes() =>
        Assert.Empty(Check("# t\n\n<!-- snippet: a-one -->\n```csharp\nvar x = 1;\nif (x > 0)\n    x++;\n```\n"));

    [Fact]
    public void A_differing_line_is_named_with_the_doc_the_snippet_and_the_line()
    {
        var problem = Assert.Single(Check("# t\n\n<!-- snippet: a-one -->\n```csharp\nvar x = 1;\nif (x > 1)\n    x++;\n```\n"));

        Assert.StartsWith("README.md:6: snippet 'a-one' (docs/snippets/A.cs:5) differs at its line 2: doc has `if (x > 1)`, snippet has `if (x > 0)`", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_csharp_block_without_a_marker_fails_and_other_languages_are_not_checked()
    {
        var problem = Assert.Single(Check("```bash\nbuild/test.sh\n```\n\n```csharp\nvar y = 2;\n```\n```json\n{}\n```\n"));

        Assert.StartsWith("README.md:5: a ```csharp block without a snippet marker", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_snippet_id_fails_naming_it() =>
        Assert.Contains("snippet 'nope' is not defined", Assert.Single(Check("<!-- snippet: nope -->\n```csharp\n```\n")), StringComparison.Ordinal);

    [Fact]
    public void The_rewrite_takes_the_snippet_and_keeps_the_rest_of_the_doc()
    {
        Check("intro\n<!-- snippet: a-one -->\n```csharp\nold\n```\nafter\n");

        Assert.True(DocSnippets.Rewrite(_root, "README.md", DocSnippets.Snippets(_root)));

        Assert.Equal("intro\n<!-- snippet: a-one -->\n```csharp\nvar x = 1;\nif (x > 0)\n    x++;\n```\nafter\n", File.ReadAllText(Path.Combine(_root, "README.md")));
        Assert.Empty(DocSnippets.Problems(_root, "README.md", DocSnippets.Snippets(_root)));
    }
}
