using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace MassTransit.Patterns.Packaging.Tests;

/// <summary>
/// A newcomer's app (test/Newcomer, not in the solution) that uses four patterns compiles with <c>using MassTransit;</c>
/// alone, against the packed packages (not the projects).
/// </summary>
public sealed partial class NewcomerAppTests
{
    static readonly string AppDirectory = Path.Combine(PackedPackages.RepositoryRoot, "test", "Newcomer");
    static readonly string Artifacts = Path.Combine(PackedPackages.RepositoryRoot, "artifacts", "newcomer");

    [Fact]
    public void The_app_names_no_namespace_but_MassTransit()
    {
        var sources = Directory.GetFiles(AppDirectory, "*.cs", SearchOption.AllDirectories);
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var usings = UsingDirective().Matches(File.ReadAllText(source)).Select(m => m.Value.Trim()).ToList();
            Assert.True(usings.All(u => u == "using MassTransit;"),
                $"{Path.GetFileName(source)} has using directives other than `using MassTransit;`: {string.Join(" ", usings)}");
        }

        var project = File.ReadAllText(Path.Combine(AppDirectory, "Newcomer.csproj"));
        Assert.DoesNotContain("<Using ", project, StringComparison.Ordinal);
        Assert.DoesNotContain("<ProjectReference", project, StringComparison.Ordinal);
        foreach (var id in new[] { "MassTransit.Patterns", "MassTransit.Patterns.RabbitMQ", "MassTransit.Patterns.EntityFrameworkCore" })
            Assert.Contains($"<PackageReference Include=\"{id}\"", project, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_app_compiles_against_the_packed_packages()
    {
        var version = PackedPackages.Version;
        if (Directory.Exists(Artifacts))
            Directory.Delete(Artifacts, recursive: true);

        var (exitCode, output) = await Run(TestContext.Current.CancellationToken,
            "build", Path.Combine(AppDirectory, "Newcomer.csproj"), "-c", "Release", "-nologo", "-clp:ErrorsOnly",
            $"-p:PatternsVersion={version}");
        Assert.True(exitCode == 0, $"dotnet build test/Newcomer (MassTransit.Patterns {version} from artifacts/packages) failed:\n{output}");

        // What was compiled against is the package packed in this run: the restored copy has its hash.
        foreach (var id in new[] { "MassTransit.Patterns", "MassTransit.Patterns.RabbitMQ", "MassTransit.Patterns.EntityFrameworkCore" })
        {
            var restored = Path.Combine(Artifacts, "packages", id.ToLowerInvariant(), version, $"{id.ToLowerInvariant()}.{version}.nupkg.sha512");
            Assert.True(File.Exists(restored), $"{id} {version} was not restored into {Path.GetDirectoryName(restored)}");
            var packed = Convert.ToBase64String(SHA512.HashData(File.ReadAllBytes(PackedPackages.PathOf(id))));
            Assert.Equal(packed, File.ReadAllText(restored).Trim());
        }
    }

    static async Task<(int ExitCode, string Output)> Run(CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = PackedPackages.RepositoryRoot,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // The test host may run under MSBuild's environment (dotnet test); the app's build gets a clean one.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("dotnet build of test/Newcomer did not finish within 5 minutes");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"^\s*(global\s+)?using\s+(static\s+)?[A-Za-z_][\w.]*(\s*=\s*[\w.<>]+)?\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();
}
