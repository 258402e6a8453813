namespace MassTransit.Patterns.Docs.Tests;

/// <summary>
/// Every C# block of README.md and docs/ is a snippet of docs/snippets (a project the build compiles), line for line,
/// so no example in the docs can rot. With PATTERNS_DOCS_UPDATE=1 (build/snippets.sh) the blocks are first rewritten
/// from the snippets, so authors edit only the .cs files.
/// </summary>
public sealed class DocSnippetTests
{
    private static readonly string Root = DocSnippets.RepositoryRoot();

    public static TheoryData<string> Docs() => new(DocSnippets.Docs(Root));

    [Theory]
    [MemberData(nameof(Docs))]
    public void Every_csharp_block_is_a_snippet_of_the_compiled_project_line_for_line(string doc)
    {
        var snippets = DocSnippets.Snippets(Root);
        if (Environment.GetEnvironmentVariable("PATTERNS_DOCS_UPDATE") == "1")
            DocSnippets.Rewrite(Root, doc, snippets);

        var problems = DocSnippets.Problems(Root, doc, snippets);

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Every_snippet_is_shown_in_a_doc()
    {
        var used = DocSnippets.Docs(Root).SelectMany(doc => DocSnippets.CSharpBlocks(Root, doc)).Select(b => b.SnippetId).ToHashSet();

        var unused = DocSnippets.Snippets(Root).Values.Where(s => !used.Contains(s.Id)).Select(s => $"{s.File}:{s.Line}: snippet '{s.Id}' is in no doc").ToList();

        Assert.True(unused.Count == 0, string.Join(Environment.NewLine, unused));
    }

    [Fact]
    public void The_docs_and_snippets_are_found()
    {
        Assert.Contains("README.md", DocSnippets.Docs(Root));
        Assert.NotEmpty(DocSnippets.Snippets(Root));
    }
}
