using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MassTransit.Patterns.PublicApi.Tests;

/// <summary>
/// One type per file in the packaged libraries (src/MassTransit.Patterns*, not the showcase or benchmarks): a file
/// declares one top-level type (public or internal; nested types are fine, and a partial type may be split across
/// files), and a file's public type is named like the file (generic arity aside: <c>XOfT.cs</c> for a generic X beside a
/// non-generic one; <c>X.Part.cs</c> partial files are fine).
/// </summary>
public sealed class OneTypePerFileTests
{
    static readonly string[] NotPackaged = ["MassTransit.Patterns.Showcase", "MassTransit.Patterns.Benchmarks"];

    [Fact]
    public void Every_library_file_declares_one_top_level_type_named_like_the_file()
    {
        var files = LibraryFiles().ToList();
        Assert.NotEmpty(files);

        var problems = new List<string>();
        foreach (var file in files)
        {
            var root = CSharpSyntaxTree.ParseText(File.ReadAllText(file), path: file).GetRoot();
            var types = root.DescendantNodes(n => n is CompilationUnitSyntax or BaseNamespaceDeclarationSyntax)
                .OfType<MemberDeclarationSyntax>()
                .Where(m => m is BaseTypeDeclarationSyntax or DelegateDeclarationSyntax)
                .ToList();
            var relative = Path.GetRelativePath(RepositoryDirectory, file).Replace('\\', '/');

            if (types.Count > 1)
                problems.Add($"{relative}: {types.Count} top-level types ({string.Join(", ", types.Select(Name))})");

            var fileType = Path.GetFileNameWithoutExtension(file).Split('.')[0];
            foreach (var type in types.Where(t => t.Modifiers.Any(SyntaxKind.PublicKeyword)))
            {
                if (!NamedLikeFile(type, fileType))
                    problems.Add($"{relative}: public type {Name(type)} is not named like the file");
            }
        }

        Assert.True(problems.Count == 0, "Files breaking one type per file:\n" + string.Join('\n', problems));
    }

    /// <summary><c>X.cs</c> for X, or <c>XOfT.cs</c> for a generic X beside a non-generic X.</summary>
    static bool NamedLikeFile(MemberDeclarationSyntax type, string fileType)
    {
        var name = Name(type);
        var generic = type is TypeDeclarationSyntax { TypeParameterList: not null } or DelegateDeclarationSyntax { TypeParameterList: not null };
        return string.Equals(name, fileType, StringComparison.Ordinal)
            || (generic && string.Equals(name + "OfT", fileType, StringComparison.Ordinal));
    }

    static string Name(MemberDeclarationSyntax type) => type switch
    {
        BaseTypeDeclarationSyntax t => t.Identifier.ValueText,
        DelegateDeclarationSyntax d => d.Identifier.ValueText,
        _ => type.ToString(),
    };

    static IEnumerable<string> LibraryFiles()
    {
        var src = Path.Combine(RepositoryDirectory, "src");
        foreach (var project in Directory.GetDirectories(src, "MassTransit.Patterns*"))
        {
            if (NotPackaged.Contains(Path.GetFileName(project), StringComparer.Ordinal))
                continue;

            foreach (var file in Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(project, file).Replace('\\', '/');
                if (relative.StartsWith("obj/", StringComparison.Ordinal) || relative.StartsWith("bin/", StringComparison.Ordinal))
                    continue;
                yield return file;
            }
        }
    }

    static string RepositoryDirectory { get; } = FindRepositoryDirectory();

    static string FindRepositoryDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MassTransit.Patterns.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No MassTransit.Patterns.sln above {AppContext.BaseDirectory}");
    }
}
