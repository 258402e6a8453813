using System.Text.RegularExpressions;

namespace MassTransit.Patterns.Docs.Tests;

/// <summary>Every pattern page has the same sections in the same order, and every relative link of the docs leads to a file.</summary>
public sealed partial class DocPageTests
{
    private static readonly string Root = DocSnippets.RepositoryRoot();

    private static readonly string[] Sections =
        ["Guarantees", "Turn it on", "Options and defaults", "Metrics and logs", "What breaks it", "When not to use it", "Measured"];

    public static TheoryData<string> PatternPages() => new(
        "event-forwarding.md", "supervisor.md", "workflow-event.md", "producer-control-flow.md", "ambulance.md",
        "watch-notification.md", "multibroker.md", "contextual-queue.md", "thread-delegate.md");

    [GeneratedRegex(@"\]\((?<target>[^)#\s]+)(#[^)]*)?\)")]
    private static partial Regex Link();

    [Theory]
    [MemberData(nameof(PatternPages))]
    public void A_pattern_page_has_exactly_the_seven_sections_in_order(string page)
    {
        var headings = File.ReadAllLines(Path.Combine(Root, "docs", page))
            .Where(l => l.StartsWith("## ", StringComparison.Ordinal))
            .Select(l => l[3..].Trim())
            .ToArray();

        Assert.Equal(Sections, headings);
    }

    [Fact]
    public void Every_relative_link_in_the_docs_leads_to_a_file()
    {
        var broken = new List<string>();
        foreach (var doc in DocSnippets.Docs(Root))
        {
            var folder = Path.GetDirectoryName(Path.Combine(Root, doc))!;
            foreach (Match link in Link().Matches(File.ReadAllText(Path.Combine(Root, doc))))
            {
                var target = link.Groups["target"].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                    continue;
                if (!File.Exists(Path.Combine(folder, target)) && !Directory.Exists(Path.Combine(folder, target)))
                    broken.Add($"{doc}: link to {target} leads nowhere");
            }
        }

        Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken));
    }
}
