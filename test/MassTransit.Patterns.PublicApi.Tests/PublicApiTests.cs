using System.Reflection;
using PublicApiGenerator;

namespace MassTransit.Patterns.PublicApi.Tests;

/// <summary>
/// Every change of a package's public surface is reviewed on purpose: the surface (PublicApiGenerator) must equal the
/// approved file approved/&lt;Package&gt;.txt. On a difference the test fails with a summary of the lines removed and
/// added, and writes approved/&lt;Package&gt;.received.txt beside it; PATTERNS_ACCEPT_API=1 rewrites the approved files.
/// </summary>
public sealed class PublicApiTests
{
    const int MaxLinesShown = 40;

    public static TheoryData<string> Packages => new(
        "MassTransit.Patterns",
        "MassTransit.Patterns.RabbitMQ",
        "MassTransit.Patterns.EntityFrameworkCore",
        "MassTransit.Patterns.AzureServiceBus",
        "MassTransit.Patterns.Dashboard");

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_public_API_is_the_approved_one(string package)
    {
        var received = Normalize(Assembly.Load(package).GeneratePublicApi(new ApiGeneratorOptions
        {
            // Compiler and build noise, not API.
            ExcludeAttributes =
            [
                "System.Runtime.Versioning.TargetFrameworkAttribute",
                "System.Reflection.AssemblyMetadataAttribute",
            ],
        }));

        var directory = Path.Combine(ProjectDirectory, "approved");
        var approvedPath = Path.Combine(directory, package + ".txt");
        var receivedPath = Path.Combine(directory, package + ".received.txt");

        if (Environment.GetEnvironmentVariable("PATTERNS_ACCEPT_API") == "1")
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(approvedPath, received);
            File.Delete(receivedPath);
            return;
        }

        var approved = File.Exists(approvedPath) ? Normalize(File.ReadAllText(approvedPath)) : "";
        if (approved == received)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, received);
        Assert.Fail($"""
            The public API of {package} changed (or has no approved file).
            {Summary(approved, received)}
            Received: {receivedPath}
            Approved: {approvedPath}
            If the change is meant: review it, then run with PATTERNS_ACCEPT_API=1 (or copy the received file over the approved one) and commit it.
            """);
    }

    static string Normalize(string api) => api.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd() + "\n";

    /// <summary>The lines only in the approved file (-) and only in the received one (+), in file order.</summary>
    static string Summary(string approved, string received)
    {
        var approvedLines = approved.Split('\n');
        var receivedLines = received.Split('\n');
        var removed = Except(approvedLines, receivedLines);
        var added = Except(receivedLines, approvedLines);

        var lines = new List<string> { $"{removed.Count} line(s) removed, {added.Count} line(s) added:" };
        lines.AddRange(removed.Take(MaxLinesShown).Select(l => "- " + l.Trim()));
        if (removed.Count > MaxLinesShown)
            lines.Add($"  ... {removed.Count - MaxLinesShown} more removed");
        lines.AddRange(added.Take(MaxLinesShown).Select(l => "+ " + l.Trim()));
        if (added.Count > MaxLinesShown)
            lines.Add($"  ... {added.Count - MaxLinesShown} more added");
        return string.Join('\n', lines);
    }

    /// <summary>The lines of <paramref name="left"/> not matched by a line of <paramref name="right"/> (as a multiset).</summary>
    static List<string> Except(string[] left, string[] right)
    {
        var counts = right.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var line in left)
        {
            if (counts.TryGetValue(line, out var n) && n > 0)
                counts[line] = n - 1;
            else if (line.Trim().Length > 0)
                result.Add(line);
        }

        return result;
    }

    static string ProjectDirectory { get; } = FindProjectDirectory();

    static string FindProjectDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MassTransit.Patterns.sln")))
                return Path.Combine(dir.FullName, "test", "MassTransit.Patterns.PublicApi.Tests");
        }

        throw new InvalidOperationException($"No MassTransit.Patterns.sln above {AppContext.BaseDirectory}");
    }
}
