using System.Text;
using System.Text.RegularExpressions;

namespace MassTransit.Patterns.Docs.Tests;

/// <summary>A snippet of docs/snippets: the lines between <c>// begin-snippet: id</c> and <c>// end-snippet</c>, dedented.</summary>
public sealed record Snippet(string Id, string File, int Line, IReadOnlyList<string> Lines);

/// <summary>A fenced C# block of a markdown file, with the snippet id of the marker before it (null when there is none).</summary>
public sealed record DocBlock(string Doc, int FenceLine, string? SnippetId, IReadOnlyList<string> Lines, int ContentStart, int ContentEnd);

/// <summary>Reads the snippets and the docs' C# blocks, compares them and rewrites the docs from the snippets.</summary>
public static partial class DocSnippets
{
    [GeneratedRegex(@"^\s*//\s*begin-snippet:\s*(?<id>[A-Za-z0-9._-]+)\s*$")]
    private static partial Regex BeginSnippet();

    [GeneratedRegex(@"^\s*//\s*end-snippet\s*$")]
    private static partial Regex EndSnippet();

    [GeneratedRegex(@"^<!--\s*snippet:\s*(?<id>[A-Za-z0-9._-]+)\s*-->\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^(?<indent>\s*)(?<fence>```+|~~~+)\s*(?<lang>[^\s`]*)")]
    private static partial Regex Fence();

    private static readonly HashSet<string> CSharp = new(StringComparer.OrdinalIgnoreCase) { "csharp", "cs", "c#" };

    /// <summary>The repository root: the first directory above the test's base directory holding MassTransit.Patterns.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MassTransit.Patterns.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No MassTransit.Patterns.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>README.md and every markdown file under docs/, as paths relative to the root with '/'.</summary>
    public static IReadOnlyList<string> Docs(string root)
    {
        var docs = new List<string>();
        if (File.Exists(Path.Combine(root, "README.md")))
            docs.Add("README.md");
        var folder = Path.Combine(root, "docs");
        if (Directory.Exists(folder))
            docs.AddRange(Directory.EnumerateFiles(folder, "*.md", SearchOption.AllDirectories)
                .Where(p => !IsBuildOutput(p))
                .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/'))
                .Order(StringComparer.Ordinal));
        return docs;
    }

    /// <summary>Every snippet under docs/snippets; a duplicate id or an unclosed snippet throws naming the file and line.</summary>
    public static IReadOnlyDictionary<string, Snippet> Snippets(string root)
    {
        var snippets = new Dictionary<string, Snippet>(StringComparer.Ordinal);
        var folder = Path.Combine(root, "docs", "snippets");
        if (!Directory.Exists(folder))
            return snippets;
        foreach (var path in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories).Where(p => !IsBuildOutput(p)).Order(StringComparer.Ordinal))
        {
            var file = Path.GetRelativePath(root, path).Replace('\\', '/');
            var lines = ReadLines(path);
            for (var i = 0; i < lines.Length; i++)
            {
                var begin = BeginSnippet().Match(lines[i]);
                if (!begin.Success)
                    continue;
                var id = begin.Groups["id"].Value;
                var end = i + 1;
                while (end < lines.Length && !EndSnippet().IsMatch(lines[end]))
                {
                    if (BeginSnippet().IsMatch(lines[end]))
                        throw new InvalidOperationException($"{file}:{end + 1}: snippet '{id}' (line {i + 1}) is not closed before the next begin-snippet.");
                    end++;
                }
                if (end == lines.Length)
                    throw new InvalidOperationException($"{file}:{i + 1}: snippet '{id}' has no // end-snippet.");
                if (snippets.TryGetValue(id, out var other))
                    throw new InvalidOperationException($"{file}:{i + 1}: snippet id '{id}' is also defined at {other.File}:{other.Line}.");
                snippets[id] = new Snippet(id, file, i + 1, Dedent(lines[(i + 1)..end]));
                i = end;
            }
        }
        return snippets;
    }

    /// <summary>The C# blocks of one markdown file (other languages are not checked).</summary>
    public static IReadOnlyList<DocBlock> CSharpBlocks(string root, string doc)
    {
        var lines = ReadLines(Path.Combine(root, doc));
        var blocks = new List<DocBlock>();
        for (var i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success)
                continue;
            var fence = open.Groups["fence"].Value;
            var close = i + 1;
            while (close < lines.Length && !(lines[close].TrimStart().StartsWith(fence, StringComparison.Ordinal) && lines[close].Trim().Trim(fence[0]).Length == 0))
                close++;
            if (CSharp.Contains(open.Groups["lang"].Value))
            {
                var previous = i - 1;
                while (previous >= 0 && lines[previous].Trim().Length == 0)
                    previous--;
                var marker = previous >= 0 ? Marker().Match(lines[previous].Trim()) : Match.Empty;
                blocks.Add(new DocBlock(doc, i + 1, marker.Success ? marker.Groups["id"].Value : null,
                    Dedent(lines[(i + 1)..Math.Min(close, lines.Length)]), i + 1, Math.Min(close, lines.Length)));
            }
            i = close;
        }
        return blocks;
    }

    /// <summary>What is wrong with one doc's C# blocks, one line each: a block without a marker, an unknown id, the first differing line.</summary>
    public static IReadOnlyList<string> Problems(string root, string doc, IReadOnlyDictionary<string, Snippet> snippets)
    {
        var problems = new List<string>();
        foreach (var block in CSharpBlocks(root, doc))
        {
            if (block.SnippetId is null)
            {
                problems.Add($"{doc}:{block.FenceLine}: a ```csharp block without a snippet marker: put <!-- snippet: ID --> before it and the code between // begin-snippet: ID and // end-snippet in docs/snippets.");
                continue;
            }
            if (!snippets.TryGetValue(block.SnippetId, out var snippet))
            {
                problems.Add($"{doc}:{block.FenceLine}: snippet '{block.SnippetId}' is not defined in docs/snippets.");
                continue;
            }
            var difference = FirstDifference(block.Lines, snippet.Lines);
            if (difference is not null)
                problems.Add($"{doc}:{block.FenceLine + 1 + difference.Value.Index}: snippet '{snippet.Id}' ({snippet.File}:{snippet.Line}) differs at its line {difference.Value.Index + 1}: "
                    + $"doc has {Show(difference.Value.Doc)}, snippet has {Show(difference.Value.Snippet)}. Run build/snippets.sh to take the snippet.");
        }
        return problems;
    }

    /// <summary>Rewrites the content of every marked C# block of one doc from its snippet; returns whether the file changed.</summary>
    public static bool Rewrite(string root, string doc, IReadOnlyDictionary<string, Snippet> snippets)
    {
        var path = Path.Combine(root, doc);
        var text = File.ReadAllText(path);
        var newline = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = ReadLines(path).ToList();
        var changed = false;
        foreach (var block in CSharpBlocks(root, doc).Reverse())
        {
            if (block.SnippetId is null || !snippets.TryGetValue(block.SnippetId, out var snippet) || FirstDifference(block.Lines, snippet.Lines) is null)
                continue;
            lines.RemoveRange(block.ContentStart, block.ContentEnd - block.ContentStart);
            lines.InsertRange(block.ContentStart, snippet.Lines);
            changed = true;
        }
        if (changed)
        {
            var result = new StringBuilder(string.Join(newline, lines));
            if (text.EndsWith('\n'))
                result.Append(newline);
            File.WriteAllText(path, result.ToString(), new UTF8Encoding(false));
        }
        return changed;
    }

    /// <summary>Removes the indentation common to the non-blank lines, trailing white space, and blank lines at both ends.</summary>
    public static IReadOnlyList<string> Dedent(IEnumerable<string> source)
    {
        var lines = source.Select(l => l.TrimEnd()).ToList();
        while (lines.Count > 0 && lines[0].Length == 0)
            lines.RemoveAt(0);
        while (lines.Count > 0 && lines[^1].Length == 0)
            lines.RemoveAt(lines.Count - 1);
        var indent = lines.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return lines.Select(l => l.Length == 0 ? l : l[indent..]).ToList();
    }

    private static (int Index, string? Doc, string? Snippet)? FirstDifference(IReadOnlyList<string> doc, IReadOnlyList<string> snippet)
    {
        for (var i = 0; i < Math.Max(doc.Count, snippet.Count); i++)
        {
            var d = i < doc.Count ? doc[i] : null;
            var s = i < snippet.Count ? snippet[i] : null;
            if (!string.Equals(d, s, StringComparison.Ordinal))
                return (i, d, s);
        }
        return null;
    }

    private static string Show(string? line) => line is null ? "(no line)" : $"`{line}`";

    private static string[] ReadLines(string path)
    {
        var lines = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        return lines.Length > 0 && lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    private static bool IsBuildOutput(string path) =>
        path.Replace('\\', '/').Split('/') is var parts && (parts.Contains("bin") || parts.Contains("obj"));
}
